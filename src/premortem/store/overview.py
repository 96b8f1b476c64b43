"""Read-only queries across tables for the pages: each one indexed and bounded.

Which services premortem has heard of, when the stored data starts and ends, and how often each
template was logged per time bucket: what the UI shows around the repositories' own lists.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, case, func, select, union

from premortem.domain import ERROR_SEVERITY
from premortem.store import tables as t

# Tables whose rows are what pages show over time (each has an index on time_ns).
_TIMED = (t.logs.c.time_ns, t.events.c.time_ns, t.predictions.c.time_ns, t.test_runs.c.time_ns)


class SqlOverview:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def services(self) -> list[str]:
        """Every service premortem has heard of (small tables only: never a scan of the logs)."""
        names = union(
            select(t.templates.c.service).distinct(),
            select(t.failure_modes.c.service).distinct(),
            select(t.predictions.c.service).distinct(),
            select(t.test_runs.c.service).distinct(),
        )
        with self.engine.connect() as conn:
            return sorted({name for (name,) in conn.execute(names) if name})

    def data_extent(self) -> tuple[int, int] | None:
        """Oldest and newest stored time over logs, events, predictions and test runs."""
        lows, highs = [], []
        with self.engine.connect() as conn:
            for column in _TIMED:
                low, high = conn.execute(select(func.min(column), func.max(column))).one()
                if low is not None:
                    lows.append(int(low))
                    highs.append(int(high))
        return (min(lows), max(highs)) if lows else None

    def template_rates(
        self,
        template_ids: Sequence[int],
        *,
        since_ns: int,
        until_ns: int,
        buckets: int = 48,
    ) -> dict[int, list[int]]:
        """Count per time bucket of each template over [since, until): one grouped, indexed
        query."""
        if not template_ids:
            return {}
        width = max(1, (until_ns - since_ns) // buckets)
        c = t.logs.c
        bucket = ((c.time_ns - since_ns) // width).label("bucket")
        stmt = (
            select(c.template_id, bucket, func.count())
            .where(
                c.template_id.in_(list(template_ids)), c.time_ns >= since_ns, c.time_ns < until_ns
            )
            .group_by(c.template_id, bucket)
        )
        rates = {tid: [0] * buckets for tid in template_ids}
        with self.engine.connect() as conn:
            for tid, index, count in conn.execute(stmt):
                if 0 <= int(index) < buckets:
                    rates[int(tid)][int(index)] = int(count)
        return rates

    def log_span(
        self, since_ns: int, until_ns: int, services: Sequence[str] | None
    ) -> tuple[int | None, int | None, int | None]:
        """(first, last, first ERROR) record times in [since, until) of these services (all when
        None): the stretch a backtest watched, and where the naive baseline would alert."""
        c = t.logs.c
        stmt = select(
            func.min(c.time_ns),
            func.max(c.time_ns),
            func.min(case((c.severity_number >= ERROR_SEVERITY, c.time_ns))),
        ).where(c.time_ns >= since_ns, c.time_ns < until_ns)
        if services is not None:
            stmt = stmt.where(c.service.in_(list(services)))
        with self.engine.connect() as conn:
            first, last, error = conn.execute(stmt).one()
        return first, last, error

    def first_errors(
        self, since_ns: int, until_ns: int, service: str | None, slot_ns: int
    ) -> list[tuple[int, str]]:
        """The first ERROR line per service and `slot_ns`-wide slot from `since_ns`, as (time,
        service) in time order, from one grouped scan."""
        c = t.logs.c
        slot = ((c.time_ns - since_ns) // slot_ns).label("slot")
        stmt = (
            select(c.service, slot, func.min(c.time_ns))
            .where(c.time_ns >= since_ns, c.time_ns < until_ns, c.severity_number >= ERROR_SEVERITY)
            .group_by(c.service, slot)
        )
        if service:
            stmt = stmt.where(c.service == service)
        with self.engine.connect() as conn:
            return sorted((int(first), name) for name, _, first in conn.execute(stmt))
