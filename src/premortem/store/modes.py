"""SQL repository for the failure-mode database and the predictions made from it.

Every save of a mode bumps its version and keeps the previous document in the version history, so
an edit (by hand or by retraining) can always be traced and compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from premortem.clock import Clock, SystemClock
from premortem.domain import FailureMode, Prediction, ns_to_datetime
from premortem.errors import NotFound
from premortem.ports import ModeVersion, Page
from premortem.store import tables as t
from premortem.store.engine import insert_new, write_lock

_SAVE_ATTEMPTS = 3  # a lost race to create a mode is retried as an update

__all__ = ["ModeVersion", "SqlModeRepository", "SqlPredictionRepository"]


class SqlModeRepository:
    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self._clock = clock or SystemClock()

    def list_modes(
        self,
        *,
        service: str | None = None,
        source: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[FailureMode]:
        c = t.failure_modes.c
        where = [col == value for col, value in ((c.service, service), (c.source, source)) if value]
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(t.failure_modes).where(*where))
            docs = conn.execute(
                select(c.doc).where(*where).order_by(c.name, c.id).limit(limit).offset(offset)
            ).scalars()
            return Page([FailureMode.model_validate(d) for d in docs], int(total.scalar_one()))

    def all_modes(self) -> list[FailureMode]:
        with self.engine.connect() as conn:
            docs = conn.execute(select(t.failure_modes.c.doc).order_by(t.failure_modes.c.id))
            return [FailureMode.model_validate(d) for d in docs.scalars()]

    def get_mode(self, mode_id: str) -> FailureMode:
        with self.engine.connect() as conn:
            doc = conn.execute(
                select(t.failure_modes.c.doc).where(t.failure_modes.c.id == mode_id)
            ).scalar()
        if doc is None:
            raise NotFound(f"no failure mode with id {mode_id!r}")
        return FailureMode.model_validate(doc)

    def find_mode(self, mode_id: str) -> FailureMode | None:
        try:
            return self.get_mode(mode_id)
        except NotFound:
            return None

    def save_mode(self, mode: FailureMode, *, change: str) -> FailureMode:
        """Store a new version of the mode (version = previous + 1) and return it.

        Safe when two writers save the same mode at once (two trainings, a training and an
        edit): the mode's row is locked while its next version is numbered, and a writer that
        loses the race to create a new mode saves its version on top of the winner's."""
        for attempt in range(_SAVE_ATTEMPTS):
            try:
                return self._save_version(mode, change=change)
            except IntegrityError:
                if attempt == _SAVE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _save_version(self, mode: FailureMode, *, change: str) -> FailureMode:
        now = self._clock.now_ns()
        c = t.failure_modes.c
        with write_lock(self.engine), self.engine.begin() as conn:
            previous = conn.execute(
                select(c.version).where(c.id == mode.id).with_for_update()
            ).scalar()
            # A mode deleted and learned again goes on from its history's last version.
            last = (
                previous
                or conn.execute(
                    select(func.max(t.failure_mode_versions.c.version)).where(
                        t.failure_mode_versions.c.mode_id == mode.id
                    )
                ).scalar()
            )
            saved = mode.model_copy(
                update={"version": (last or 0) + 1, "updated_at": ns_to_datetime(now)}
            )
            doc = saved.model_dump(mode="json")
            row = {
                "name": saved.name,
                "service": saved.service,
                "source": saved.source.value,
                "version": saved.version,
                "updated_ns": now,
                "doc": doc,
            }
            if previous is None:
                conn.execute(insert(t.failure_modes), [{"id": saved.id, **row}])
            else:
                conn.execute(update(t.failure_modes).where(c.id == saved.id).values(**row))
            conn.execute(
                insert(t.failure_mode_versions),
                [
                    {
                        "mode_id": saved.id,
                        "version": saved.version,
                        "changed_ns": now,
                        "change": change[:256],
                        "doc": doc,
                    }
                ],
            )
        return saved

    def delete_mode(self, mode_id: str) -> None:
        with write_lock(self.engine), self.engine.begin() as conn:
            deleted = conn.execute(delete(t.failure_modes).where(t.failure_modes.c.id == mode_id))
            if deleted.rowcount == 0:
                raise NotFound(f"no failure mode with id {mode_id!r}")

    def versions(self, mode_id: str) -> list[ModeVersion]:
        c = t.failure_mode_versions.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.version, c.changed_ns, c.change, c.doc)
                .where(c.mode_id == mode_id)
                .order_by(c.version.desc())
            )
            return [
                ModeVersion(r.version, r.changed_ns, r.change, FailureMode.model_validate(r.doc))
                for r in rows
            ]


class SqlPredictionRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add_predictions(self, predictions: Sequence[Prediction]) -> int:
        rows = [
            {
                "id": p.id,
                "time_ns": p.time_ns,
                "mode_id": p.mode_id,
                "service": p.service,
                "probability": p.probability,
                "horizon_s": p.horizon_s,
                "lead_time_s": p.lead_time_s,
                "evidence": p.evidence,
            }
            for p in predictions
        ]
        return insert_new(self.engine, t.predictions, rows)

    def list_predictions(
        self,
        *,
        mode_id: str | None = None,
        service: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        min_probability: float | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[Prediction]:
        c = t.predictions.c
        where: list[Any] = []
        if mode_id:
            where.append(c.mode_id == mode_id)
        if service:
            where.append(c.service == service)
        if since_ns is not None:
            where.append(c.time_ns >= since_ns)
        if until_ns is not None:
            where.append(c.time_ns < until_ns)
        if min_probability is not None:
            where.append(c.probability >= min_probability)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(t.predictions).where(*where))
            rows = conn.execute(
                select(t.predictions)
                .where(*where)
                .order_by(c.time_ns.desc(), c.id)
                .limit(limit)
                .offset(offset)
            )
            items = [_prediction(r) for r in rows.mappings()]
            return Page(items, int(total.scalar_one()))

    def latest_per_mode(self, *, service: str | None = None) -> list[Prediction]:
        """The newest prediction of every mode: what is predicted *now*."""
        c = t.predictions.c
        newest = select(c.mode_id, func.max(c.time_ns).label("time_ns")).group_by(c.mode_id)
        if service:
            newest = newest.where(c.service == service)
        sub = newest.subquery()
        stmt = (
            select(t.predictions)
            .join(sub, (c.mode_id == sub.c.mode_id) & (c.time_ns == sub.c.time_ns))
            .order_by(c.mode_id, c.id)
        )
        with self.engine.connect() as conn:
            return [_prediction(r) for r in conn.execute(stmt).mappings()]

    def probability_points(
        self,
        mode_ids: Sequence[str],
        *,
        since_ns: int,
        until_ns: int,
        service: str | None = None,
        per_mode: int = 300,
    ) -> dict[str, list[tuple[int, float]]]:
        """(time, probability) of each mode's predictions in range, oldest first: one indexed
        query on (mode_id, time_ns) that reads only the two columns a chart needs."""
        if not mode_ids:
            return {}
        c = t.predictions.c
        stmt = (
            select(c.mode_id, c.time_ns, c.probability)
            .where(c.mode_id.in_(list(mode_ids)), c.time_ns >= since_ns, c.time_ns < until_ns)
            .order_by(c.mode_id, c.time_ns)
        )
        if service:
            stmt = stmt.where(c.service == service)
        points: dict[str, list[tuple[int, float]]] = {m: [] for m in mode_ids}
        with self.engine.connect() as conn:
            for mode_id, time_ns, probability in conn.execute(stmt):
                points[mode_id].append((int(time_ns), float(probability)))
        return {m: p[-per_mode:] for m, p in points.items()}


def _prediction(row: Any) -> Prediction:
    return Prediction(
        id=row["id"],
        time_ns=row["time_ns"],
        mode_id=row["mode_id"],
        service=row["service"],
        probability=row["probability"],
        horizon_s=row["horizon_s"],
        lead_time_s=row["lead_time_s"],
        evidence=row["evidence"] or {},
    )
