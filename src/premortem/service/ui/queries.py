"""Read-only queries the pages need beyond the repositories' own: each one indexed and bounded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, func, select, union

from premortem.domain import FailureMode, Template
from premortem.store import tables as t


@dataclass(frozen=True, slots=True)
class PageInfo:
    total: int
    offset: int
    limit: int
    shown: int

    @property
    def first(self) -> int:
        return self.offset + 1 if self.shown else 0

    @property
    def last(self) -> int:
        return self.offset + self.shown

    @property
    def prev(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None

    @property
    def next(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None


def services(engine: Engine) -> list[str]:
    """Every service premortem has heard of (small tables only: never a scan of the logs)."""
    names = union(
        select(t.templates.c.service).distinct(),
        select(t.failure_modes.c.service).distinct(),
        select(t.predictions.c.service).distinct(),
        select(t.test_runs.c.service).distinct(),
    )
    with engine.connect() as conn:
        return sorted({name for (name,) in conn.execute(names) if name})


def template_rates(
    engine: Engine, template_ids: Sequence[int], *, since_ns: int, until_ns: int, buckets: int = 48
) -> dict[int, list[int]]:
    """Count per time bucket of each template over [since, until): one grouped, indexed query."""
    if not template_ids:
        return {}
    width = max(1, (until_ns - since_ns) // buckets)
    c = t.logs.c
    bucket = ((c.time_ns - since_ns) // width).label("bucket")
    stmt = (
        select(c.template_id, bucket, func.count())
        .where(c.template_id.in_(list(template_ids)), c.time_ns >= since_ns, c.time_ns < until_ns)
        .group_by(c.template_id, bucket)
    )
    rates = {tid: [0] * buckets for tid in template_ids}
    with engine.connect() as conn:
        for tid, index, count in conn.execute(stmt):
            if 0 <= int(index) < buckets:
                rates[int(tid)][int(index)] = int(count)
    return rates


def modes_reproduced_by(modes: Sequence[FailureMode]) -> dict[str, list[FailureMode]]:
    """Test run id → the failure modes whose evidence cites it."""
    found: dict[str, list[FailureMode]] = {}
    for mode in modes:
        for run_id in mode.evidence.test_runs:
            found.setdefault(run_id, []).append(mode)
    return found


def probability_points(
    engine: Engine,
    mode_ids: Sequence[str],
    *,
    since_ns: int,
    until_ns: int,
    service: str | None = None,
    per_mode: int = 300,
) -> dict[str, list[tuple[int, float]]]:
    """(time, probability) of each mode's predictions in range, oldest first: one indexed query
    on (mode_id, time_ns) that reads only the two columns a chart needs."""
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
    with engine.connect() as conn:
        for mode_id, time_ns, probability in conn.execute(stmt):
            points[mode_id].append((int(time_ns), float(probability)))
    return {m: p[-per_mode:] for m, p in points.items()}


def template_texts(engine: Engine, ids: Sequence[int]) -> dict[int, str]:
    """The stored text of each template id (evicted ones included: an old anomaly still names
    its template)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    c = t.templates.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.id, c.template).where(c.id.in_(wanted)))
        return {int(r.id): str(r.template) for r in rows}


def busiest_templates(
    engine: Engine, *, service: str | None, text: str | None, limit: int, offset: int
) -> tuple[list[Template], int]:
    """Stored templates by count (the catalog flushes them every few seconds): a small table,
    sorted and paged in SQL instead of copying every live template per request."""
    c = t.templates.c
    where: list[ColumnElement[bool]] = [c.evicted.is_(False)]
    if service:
        where.append(c.service == service)
    if text:
        where.append(c.template.contains(text, autoescape=True))
    columns = (c.id, c.service, c.template, c.count, c.first_seen_ns, c.last_seen_ns)
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).where(*where)).scalar_one())
        rows = conn.execute(
            select(*columns)
            .where(*where)
            .order_by(c.count.desc(), c.id)
            .limit(limit)
            .offset(offset)
        )
        found = [
            Template(
                id=r.id,
                service=r.service,
                template=r.template,
                count=r.count,
                first_seen_ns=r.first_seen_ns,
                last_seen_ns=r.last_seen_ns,
            )
            for r in rows
        ]
    return found, total
