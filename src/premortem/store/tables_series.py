"""Metric series in the store: one row per series (metric + labels), one per point.

Written by Prometheus remote-write (`POST /api/v1/write`), read by `GET /api/v1/series`. Writes
are idempotent — a point is keyed by its series and time, and remote-write senders retry a batch
they are not sure of — so a re-sent batch stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Column, Engine, Float, Index, String, Table, func, select

from premortem.domain import MetricSeries
from premortem.ports import Page, SeriesQuery
from premortem.store.engine import insert_new
from premortem.store.tables import Json, metadata

metric_series = Table(
    "metric_series",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("metric", String(256), nullable=False),
    Column("labels", Json, nullable=False),
    Index("ix_metric_series_metric", "metric"),
)

metric_points = Table(
    "metric_points",
    metadata,
    Column("series_id", String(32), primary_key=True),
    Column("time_ns", BigInteger, primary_key=True, autoincrement=False),
    Column("value", Float, nullable=False),
)

MAX_POINTS_PER_SERIES = 10_000  # one page of points per series; narrow the range for more
MAX_SERIES_PER_RANGE = 1_000  # series a training run reads (the engine keeps a dozen at most)


class SqlSeriesStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add_series(self, series: Sequence[MetricSeries]) -> int:
        """Store the series and their points; how many points were new."""
        rows = {s.id: {"id": s.id, "metric": s.metric, "labels": s.labels} for s in series}
        insert_new(self.engine, metric_series, list(rows.values()))
        points = {
            (s.id, time_ns): {"series_id": s.id, "time_ns": time_ns, "value": value}
            for s in series
            for time_ns, value in s.points
        }
        return insert_new(self.engine, metric_points, list(points.values()))

    def list_series(self, query: SeriesQuery) -> Page[MetricSeries]:
        """Series of one metric (ordered by id), each with its points in the range, oldest first."""
        where = [metric_series.c.metric == query.metric]
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).where(*where)).scalar_one()
            found = conn.execute(
                select(metric_series.c.id, metric_series.c.labels)
                .where(*where)
                .order_by(metric_series.c.id)
                .limit(query.limit)
                .offset(query.offset)
            ).all()
            items = [
                MetricSeries(query.metric, dict(labels), self._points(conn, series_id, query))
                for series_id, labels in found
            ]
        return Page(items, int(total))

    def metric_names(self, *, limit: int = 100, offset: int = 0) -> Page[tuple[str, int]]:
        """The stored metrics (by name) and how many series (label sets) each has."""
        c = metric_series.c
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count(func.distinct(c.metric)))).scalar_one()
            rows = conn.execute(
                select(c.metric, func.count())
                .group_by(c.metric)
                .order_by(c.metric)
                .limit(limit)
                .offset(offset)
            ).all()
        return Page([(str(name), int(n)) for name, n in rows], int(total))

    def series_between(self, since_ns: int, until_ns: int) -> list[MetricSeries]:
        """Every series with points in [since, until) — a training run's window — with those
        points, at most MAX_SERIES_PER_RANGE series (by id) of MAX_POINTS_PER_SERIES points."""
        c = metric_points.c
        with self.engine.connect() as conn:
            ids = (
                select(c.series_id)
                .where(c.time_ns >= since_ns, c.time_ns < until_ns)
                .group_by(c.series_id)
                .order_by(c.series_id)
                .limit(MAX_SERIES_PER_RANGE)
            )
            found = conn.execute(
                select(metric_series.c.id, metric_series.c.metric, metric_series.c.labels).where(
                    metric_series.c.id.in_(ids.scalar_subquery())
                )
            ).all()
            query = SeriesQuery("", since_ns, until_ns)
            return [
                MetricSeries(metric, dict(labels), self._points(conn, series_id, query))
                for series_id, metric, labels in sorted(found)
            ]

    @staticmethod
    def _points(conn: Any, series_id: str, query: SeriesQuery) -> list[tuple[int, float]]:
        c = metric_points.c
        stmt = select(c.time_ns, c.value).where(c.series_id == series_id)
        if query.since_ns is not None:
            stmt = stmt.where(c.time_ns >= query.since_ns)
        if query.until_ns is not None:
            stmt = stmt.where(c.time_ns < query.until_ns)
        rows = conn.execute(stmt.order_by(c.time_ns).limit(MAX_POINTS_PER_SERIES)).all()
        return [(int(t), float(v)) for t, v in rows]
