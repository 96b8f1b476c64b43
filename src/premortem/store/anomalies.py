"""SQL repository for anomalies: the signals online detectors raise, with their evidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, func, select

from premortem.domain import Anomaly
from premortem.ports import Page
from premortem.store import tables as t
from premortem.store.engine import insert_new


class SqlAnomalyRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add_anomalies(self, anomalies: Sequence[Anomaly]) -> int:
        """Store new anomalies; one already stored (same id) is left as it is."""
        return insert_new(self.engine, t.anomalies, [a.model_dump() for a in anomalies])

    def list_anomalies(
        self,
        *,
        service: str | None = None,
        detector: str | None = None,
        template_id: int | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[Anomaly]:
        c = t.anomalies.c
        where: list[Any] = []
        if service:
            where.append(c.service == service)
        if detector:
            where.append(c.detector == detector)
        if template_id is not None:
            where.append(c.template_id == template_id)
        if since_ns is not None:
            where.append(c.time_ns >= since_ns)
        if until_ns is not None:
            where.append(c.time_ns < until_ns)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(t.anomalies).where(*where))
            rows = conn.execute(
                select(t.anomalies)
                .where(*where)
                .order_by(c.time_ns.desc(), c.id)
                .limit(limit)
                .offset(offset)
            )
            items = [
                Anomaly.model_validate({**r, "evidence": r["evidence"] or {}})
                for r in rows.mappings()
            ]
            return Page(items, int(total.scalar_one()))
