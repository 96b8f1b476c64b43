"""SQL repository for schedules and their runs."""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert, select, update

from premortem.clock import Clock, SystemClock
from premortem.errors import NotFound
from premortem.runtime.scheduler import Schedule, ScheduleRun
from premortem.store.engine import upsert, write_lock
from premortem.store.tables_schedules import schedule_runs, schedules


class SqlScheduleRepository:
    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self._clock = clock or SystemClock()

    def put_schedule(self, schedule: Schedule) -> Schedule:
        """Create or replace the schedule with this id."""
        doc = schedule.model_dump(mode="json")
        with write_lock(self.engine), self.engine.begin() as conn:
            exists = conn.execute(select(schedules.c.id).where(schedules.c.id == schedule.id))
            if exists.first() is None:
                row = {"id": schedule.id, "doc": doc, "created_ns": self._clock.now_ns()}
                conn.execute(insert(schedules), [row])
            else:
                conn.execute(update(schedules).where(schedules.c.id == schedule.id).values(doc=doc))
        return schedule

    def list_schedules(self) -> list[Schedule]:
        with self.engine.connect() as conn:
            docs = conn.execute(select(schedules.c.doc).order_by(schedules.c.id)).scalars()
            return [Schedule.model_validate(doc) for doc in docs]

    def get_schedule(self, schedule_id: str) -> Schedule:
        with self.engine.connect() as conn:
            doc = conn.execute(
                select(schedules.c.doc).where(schedules.c.id == schedule_id)
            ).scalar()
        if doc is None:
            raise NotFound(f"no schedule with id {schedule_id!r}")
        return Schedule.model_validate(doc)

    def delete_schedule(self, schedule_id: str) -> None:
        with write_lock(self.engine), self.engine.begin() as conn:
            if conn.execute(delete(schedules).where(schedules.c.id == schedule_id)).rowcount == 0:
                raise NotFound(f"no schedule with id {schedule_id!r}")

    def created_ns(self, schedule_id: str) -> int:
        with self.engine.connect() as conn:
            created = conn.execute(
                select(schedules.c.created_ns).where(schedules.c.id == schedule_id)
            ).scalar()
        return int(created or 0)

    def save_run(self, run: ScheduleRun) -> None:
        row = run.model_dump()
        with write_lock(self.engine), self.engine.begin() as conn:
            upsert(conn, schedule_runs, [row])

    def runs(self, schedule_id: str, *, limit: int = 50) -> list[ScheduleRun]:
        c = schedule_runs.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(schedule_runs)
                .where(c.schedule_id == schedule_id)
                .order_by(c.started_ns.desc())
                .limit(limit)
            )
            return [_run(dict(r)) for r in rows.mappings()]

    def last_run(self, schedule_id: str) -> ScheduleRun | None:
        found = self.runs(schedule_id, limit=1)
        return found[0] if found else None


def _run(row: dict[str, object]) -> ScheduleRun:
    row.pop("attempt", None)
    row["outputs"] = row.get("outputs") or {}
    return ScheduleRun.model_validate(row)
