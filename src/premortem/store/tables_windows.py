"""Closed log windows in the store: totals per source window and counts per template window.

`template_windows` serves `GET /api/v1/templates/{id}/series` beyond what the in-memory history of
`premortem.logs.windows.WindowCounter` holds. Writes are idempotent: a window re-sent after a
restart or a redelivery replaces its own rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
)

from premortem.counts import SeriesPoint, Window, make_window
from premortem.store.engine import write_lock
from premortem.store.tables import Json, metadata

log_windows = Table(
    "log_windows",
    metadata,
    Column("service", String(256), primary_key=True),
    Column("start_ns", BigInteger, primary_key=True, autoincrement=False),
    Column("end_ns", BigInteger, nullable=False),
    Column("total", Integer, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("by_severity", Json),
    Index("ix_log_windows_start", "start_ns"),
)

template_windows = Table(
    "template_windows",
    metadata,
    Column("service", String(256), primary_key=True),
    Column("template_id", Integer, primary_key=True, autoincrement=False),
    Column("start_ns", BigInteger, primary_key=True, autoincrement=False),
    Column("count", Integer, nullable=False),
    Index("ix_template_windows_template_start", "template_id", "start_ns"),
)


class SqlWindowRepository:
    """Persist closed windows and read template series back, on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, windows: Sequence[Window]) -> int:
        """Store closed windows (replacing earlier copies of the same windows); returns how many."""
        if not windows:
            return 0
        template_rows = [
            {"service": w.service, "template_id": tid, "start_ns": w.start_ns, "count": n}
            for w in windows
            for tid, n in w.by_template.items()
        ]
        with write_lock(self.engine), self.engine.begin() as conn:
            # One parameterised delete per window (executemany) rather than one OR clause over
            # all of them: a long backlog of windows would exceed SQLite's expression depth.
            keys = [{"s": w.service, "t": w.start_ns} for w in windows]
            for table in (template_windows, log_windows):
                conn.execute(
                    delete(table).where(
                        table.c.service == bindparam("s"), table.c.start_ns == bindparam("t")
                    ),
                    keys,
                )
            conn.execute(insert(log_windows), [_window_row(w) for w in windows])
            if template_rows:
                conn.execute(insert(template_windows), template_rows)
        return len(windows)

    def series(
        self, template_id: int, since_ns: int, until_ns: int, *, service: str | None = None
    ) -> list[SeriesPoint]:
        """Count of a template per window start in `[since_ns, until_ns)`, summed over sources.

        Only windows in which the template appeared are stored, so absent starts mean 0.
        """
        c = template_windows.c
        query = (
            select(c.start_ns, func.sum(c.count))
            .where(c.template_id == template_id, c.start_ns >= since_ns, c.start_ns < until_ns)
            .group_by(c.start_ns)
            .order_by(c.start_ns)
        )
        if service is not None:
            query = query.where(c.service == service)
        with self.engine.connect() as conn:
            return [SeriesPoint(int(start), int(n)) for start, n in conn.execute(query)]

    def first_start_ns(self, service: str) -> int | None:
        """When the oldest stored window of a source starts (None: the source has none)."""
        c = log_windows.c
        with self.engine.connect() as conn:
            found = conn.execute(select(func.min(c.start_ns)).where(c.service == service)).scalar()
        return int(found) if found is not None else None

    def list_windows(self, service: str, since_ns: int, until_ns: int) -> list[Window]:
        """Whole windows of one source starting in `[since_ns, until_ns)`, oldest first."""
        w, tw = log_windows.c, template_windows.c
        in_range = and_(w.service == service, w.start_ns >= since_ns, w.start_ns < until_ns)
        with self.engine.connect() as conn:
            rows = conn.execute(select(log_windows).where(in_range).order_by(w.start_ns))
            heads = list(rows.mappings())
            counts = conn.execute(
                select(tw.start_ns, tw.template_id, tw.count).where(
                    tw.service == service, tw.start_ns >= since_ns, tw.start_ns < until_ns
                )
            )
            by_start: dict[int, dict[int, int]] = {}
            for start, tid, n in counts:
                by_start.setdefault(int(start), {})[int(tid)] = int(n)
        return [_window(row, by_start.get(int(row["start_ns"]), {})) for row in heads]


def _window_row(window: Window) -> dict[str, Any]:
    return {
        "service": window.service,
        "start_ns": window.start_ns,
        "end_ns": window.end_ns,
        "total": window.total,
        "errors": window.errors,
        "by_severity": dict(window.by_severity),
    }


def _window(row: Any, by_template: dict[int, int]) -> Window:
    return make_window(
        row["service"],
        int(row["start_ns"]),
        int(row["end_ns"]),
        total=int(row["total"]),
        errors=int(row["errors"]),
        by_template=by_template,
        by_severity=dict(row["by_severity"] or {}),
    )
