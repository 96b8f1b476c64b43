"""SQL repository for ingested inputs: test runs, simulations, logs and events.

Every write is one transaction (a batch is stored whole or not at all) and idempotent on the
record id: logs and events are skipped when already stored, test runs and simulations are replaced
by the newest version of the same id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Engine, Select, delete, func, insert, select
from sqlalchemy.sql.elements import ColumnElement

from premortem.clock import Clock, SystemClock
from premortem.domain import Event, LogRecord, SimulationRun, TestRun, datetime_to_ns
from premortem.errors import NotFound
from premortem.ports import (
    EventQuery,
    LogQuery,
    Page,
    SimulationQuery,
    StoredTestRun,
    TestRunQuery,
)
from premortem.store import tables as t
from premortem.store.engine import insert_new, upsert, write_lock
from premortem.store.text import is_storable, json_dumps, storable_parameters

if TYPE_CHECKING:
    import psycopg

_LOG_COLUMNS = (
    "id, time_ns, observed_ns, service, severity_number, severity_text, body, attributes, "
    "resource, trace_id, span_id, template_id"
)
# The ingestion hot path goes straight to the driver: one executemany (SQLite) or one COPY
# (PostgreSQL) per batch, no per-row ORM work.
_SQLITE_INSERT_LOGS = f"INSERT OR IGNORE INTO logs ({_LOG_COLUMNS}) VALUES ({', '.join('?' * 12)})"
_PG_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS logs_incoming (LIKE logs INCLUDING DEFAULTS EXCLUDING INDEXES)"
)


def _copy(cursor: psycopg.Cursor[Any], table: str, rows: list[tuple[Any, ...]]) -> None:
    with cursor.copy(f"COPY {table} ({_LOG_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _log_tuple(r: LogRecord) -> tuple[Any, ...]:
    """One row for the driver, with text made storable here (the statement skips the hook)."""
    dumps = json_dumps
    row = (
        r.id,
        r.time_ns,
        r.observed_ns,
        r.service,
        r.severity_number,
        r.severity_text,
        r.body,
        dumps(r.attributes) if r.attributes else None,
        dumps(r.resource) if r.resource else None,
        r.trace_id,
        r.span_id,
        r.template_id,
    )
    ok = is_storable
    if (
        ok(r.body)
        and ok(r.service)
        and ok(r.severity_text)
        and ok(r.id)
        and (r.trace_id is None or ok(r.trace_id))
        and (r.span_id is None or ok(r.span_id))
    ):
        return row
    return storable_parameters(row)  # type: ignore[no-any-return]


class SqlInputStore:
    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self._clock = clock or SystemClock()
        self._postgres = engine.dialect.name == "postgresql"

    # ------------------------------------------------------------------ writes

    def add_logs(self, records: Sequence[LogRecord]) -> int:
        if not records:
            return 0
        rows = [_log_tuple(r) for r in records]
        if self._postgres:
            return self._add_logs_postgres(rows)
        with write_lock(self.engine), self.engine.begin() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            before = raw.total_changes
            conn.exec_driver_sql(
                _SQLITE_INSERT_LOGS, rows, execution_options={"storable_text": True}
            )
            return int(raw.total_changes - before)

    def _add_logs_postgres(self, rows: list[tuple[Any, ...]]) -> int:
        """COPY straight into the table; a batch holding a record already stored (a sender's
        retry) rolls back to the savepoint and goes through a staging table, keeping what is new.
        Straight COPY writes each row once: about a quarter faster than always staging."""
        from psycopg.errors import UniqueViolation

        with self.engine.begin() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            with cast("psycopg.Cursor[Any]", raw.cursor()) as cursor:
                try:
                    with conn.begin_nested():
                        _copy(cursor, "logs", rows)
                    return len(rows)
                except UniqueViolation:
                    pass  # rolled back to the savepoint: nothing of this batch is stored
                cursor.execute(_PG_STAGING)
                _copy(cursor, "logs_incoming", rows)
                cursor.execute(
                    f"INSERT INTO logs ({_LOG_COLUMNS}) SELECT {_LOG_COLUMNS} FROM logs_incoming "
                    "ON CONFLICT (id) DO NOTHING"
                )
                inserted = cursor.rowcount
                cursor.execute("TRUNCATE logs_incoming")
            return int(inserted)

    def add_events(self, events: Sequence[Event]) -> int:
        if not events:
            return 0
        rows = [
            {
                "id": e.id,
                "time_ns": e.time_ns,
                "type": e.type,
                "source": e.source,
                "subject": e.subject,
                "service": e.service,
                "attributes": e.attributes or None,
                "data": e.data,
                "external_id": e.external_id,
            }
            for e in events
        ]
        return insert_new(self.engine, t.events, rows)

    def add_test_runs(self, runs: Sequence[StoredTestRun]) -> int:
        if not runs:
            return 0
        now = self._clock.now_ns()
        latest = {stored.run.test_id: stored for stored in runs}  # sent twice: the last counts
        rows = [_test_run_row(stored, now) for stored in latest.values()]
        faults = [
            {"run_id": stored.run.test_id, "position": i, "fault_type": fault.type}
            for stored in latest.values()
            for i, fault in enumerate(stored.run.injected_faults)
        ]
        with write_lock(self.engine), self.engine.begin() as conn:
            # The upsert takes each run's row first (in key order): two writers of one run take
            # turns, where delete-then-insert let both delete nothing and the second insert fail.
            upsert(conn, t.test_runs, rows)
            conn.execute(delete(t.test_run_faults).where(t.test_run_faults.c.run_id.in_(latest)))
            if faults:
                conn.execute(insert(t.test_run_faults), faults)
        return len(rows)

    def delete_test_run(self, test_id: str) -> None:
        with write_lock(self.engine), self.engine.begin() as conn:
            conn.execute(delete(t.test_run_faults).where(t.test_run_faults.c.run_id == test_id))
            gone = conn.execute(delete(t.test_runs).where(t.test_runs.c.id == test_id)).rowcount
        if not gone:
            raise NotFound(f"no test run with id {test_id!r}")

    def add_simulations(self, runs: Sequence[SimulationRun]) -> int:
        if not runs:
            return 0
        now = self._clock.now_ns()
        rows = {
            run.simulation_id: {
                "id": run.simulation_id,
                "model": run.model,
                "service": run.service or "",
                "source": run.source,
                "started_ns": datetime_to_ns(run.started_at),
                "received_ns": now,
                "doc": run.model_dump(mode="json"),
            }
            for run in runs
        }
        with write_lock(self.engine), self.engine.begin() as conn:
            upsert(conn, t.simulations, list(rows.values()))
        return len(rows)

    # ------------------------------------------------------------------ reads

    def get_test_run(self, test_id: str) -> StoredTestRun:
        with self.engine.connect() as conn:
            doc = conn.execute(
                select(t.test_runs.c.doc).where(t.test_runs.c.id == test_id)
            ).scalar()
        if doc is None:
            raise NotFound(f"no test run with id {test_id!r}")
        return StoredTestRun(run=TestRun.model_validate(doc), doc=doc)

    def list_test_runs(self, query: TestRunQuery) -> Page[StoredTestRun]:
        c = t.test_runs.c
        conditions: list[ColumnElement[bool]] = []
        if query.fault_type:
            faulty = select(t.test_run_faults.c.run_id).where(
                t.test_run_faults.c.fault_type == query.fault_type
            )
            conditions.append(c.id.in_(faulty))
        if query.outcome:
            conditions.append(c.outcome == query.outcome)
        if query.service:
            conditions.append(c.service == query.service)
        conditions += _time_range(c.time_ns, query.since_ns, query.until_ns)
        if query.received_since_ns is not None:
            conditions.append(c.received_ns >= query.received_since_ns)
        order = (c.time_ns.desc(), c.id) if query.newest_first else (c.time_ns, c.id)
        stmt = select(c.doc).where(*conditions).order_by(*order)
        docs, total = self._page(stmt, query.limit, query.offset)
        return Page([StoredTestRun(TestRun.model_validate(d), d) for d in docs], total)

    def get_simulation(self, simulation_id: str) -> SimulationRun:
        with self.engine.connect() as conn:
            doc = conn.execute(
                select(t.simulations.c.doc).where(t.simulations.c.id == simulation_id)
            ).scalar()
        if doc is None:
            raise NotFound(f"no simulation with id {simulation_id!r}")
        return SimulationRun.model_validate(doc)

    def list_simulations(self, query: SimulationQuery) -> Page[SimulationRun]:
        c = t.simulations.c
        conditions: list[ColumnElement[bool]] = []
        if query.service:
            conditions.append(c.service == query.service)
        if query.model:
            conditions.append(c.model == query.model)
        stmt = select(c.doc).where(*conditions).order_by(c.started_ns.desc(), c.id)
        docs, total = self._page(stmt, query.limit, query.offset)
        return Page([SimulationRun.model_validate(d) for d in docs], total)

    def list_logs(self, query: LogQuery) -> Page[LogRecord]:
        c = t.logs.c
        conditions: list[ColumnElement[bool]] = []
        if query.service:
            conditions.append(c.service == query.service)
        if query.template_id is not None:
            conditions.append(c.template_id == query.template_id)
        if query.ids is not None:
            conditions.append(c.id.in_(query.ids))
        if query.min_severity is not None:
            conditions.append(c.severity_number >= query.min_severity)
        if query.text:
            conditions.append(c.body.contains(query.text, autoescape=True))
        conditions += _time_range(c.time_ns, query.since_ns, query.until_ns)
        order = (c.time_ns.desc(), c.id) if query.newest_first else (c.time_ns, c.id)
        stmt = select(t.logs).where(*conditions).order_by(*order)
        rows, total = self._page(stmt, query.limit, query.offset, scalar=False)
        return Page([_log_from_row(row) for row in rows], total)

    def list_events(self, query: EventQuery) -> Page[Event]:
        c = t.events.c
        conditions: list[ColumnElement[bool]] = []
        if query.service:
            conditions.append(c.service == query.service)
        if query.type:
            conditions.append(c.type == query.type)
        if query.source:
            conditions.append(c.source == query.source)
        if query.external_id:
            conditions.append(c.external_id == query.external_id)
        conditions += _time_range(c.time_ns, query.since_ns, query.until_ns)
        stmt = select(t.events).where(*conditions).order_by(c.time_ns.desc(), c.id)
        rows, total = self._page(stmt, query.limit, query.offset, scalar=False)
        return Page([_event_from_row(row) for row in rows], total)

    def counts(self) -> dict[str, int]:
        kinds = {
            "test_runs": t.test_runs,
            "simulations": t.simulations,
            "logs": t.logs,
            "events": t.events,
        }
        with self.engine.connect() as conn:
            return {
                kind: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for kind, table in kinds.items()
            }

    def _page(
        self, stmt: Select[Any], limit: int, offset: int, *, scalar: bool = True
    ) -> tuple[list[Any], int]:
        count = select(func.count()).select_from(stmt.order_by(None).subquery())
        with self.engine.connect() as conn:
            total = int(conn.execute(count).scalar_one())
            result = conn.execute(stmt.limit(limit).offset(offset))
            rows = list(result.scalars()) if scalar else list(result.mappings())
        return rows, total


def _time_range(
    column: Any, since_ns: int | None, until_ns: int | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if since_ns is not None:
        conditions.append(column >= since_ns)
    if until_ns is not None:
        conditions.append(column < until_ns)
    return conditions


def _test_run_row(stored: StoredTestRun, received_ns: int) -> dict[str, Any]:
    run = stored.run
    return {
        "id": run.test_id,
        "time_ns": datetime_to_ns(run.timestamp),
        "service": run.service or "",
        "environment": run.environment or "",
        "outcome": run.outcome,
        "failure_time_ns": datetime_to_ns(run.failure_time) if run.failure_time else None,
        "received_ns": received_ns,
        "doc": stored.doc,
    }


def _log_from_row(row: Any) -> LogRecord:
    return LogRecord(
        id=row["id"],
        time_ns=row["time_ns"],
        observed_ns=row["observed_ns"],
        service=row["service"],
        severity_number=row["severity_number"],
        severity_text=row["severity_text"],
        body=row["body"],
        attributes=row["attributes"] or {},
        resource=row["resource"] or {},
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        template_id=row["template_id"],
    )


def _event_from_row(row: Any) -> Event:
    return Event(
        id=row["id"],
        time_ns=row["time_ns"],
        type=row["type"],
        source=row["source"],
        subject=row["subject"],
        service=row["service"],
        attributes=row["attributes"] or {},
        data=row["data"],
        external_id=row["external_id"],
    )
