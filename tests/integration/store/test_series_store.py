"""Metric series on SQLite and PostgreSQL: idempotent writes, one metric's series with their
points in a range."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from premortem.domain import MetricSeries
from premortem.ports import SeriesQuery
from premortem.store.tables_series import SqlSeriesStore

pytestmark = pytest.mark.integration
S = 1_000_000_000


def test_series_are_stored_once_and_listed_by_metric_and_range(sql_engine: Engine) -> None:
    store = SqlSeriesStore(sql_engine)
    pool = MetricSeries("db_pool_in_use", {"instance": "db:9187"}, [(10 * S, 3.0), (20 * S, 9.5)])
    other = MetricSeries("db_pool_in_use", {"instance": "db2:9187"}, [(10 * S, 1.0)])
    up = MetricSeries("up", {"job": "app"}, [(10 * S, 1.0)])
    assert store.add_series([pool, other, up]) == 4
    # A re-sent batch (remote-write retries) and a later point of the same series.
    again = MetricSeries("db_pool_in_use", {"instance": "db:9187"}, [(20 * S, 9.5), (30 * S, 11.0)])
    assert store.add_series([again]) == 1

    page = store.list_series(SeriesQuery("db_pool_in_use"))
    assert page.total == 2
    by_instance = {s.labels["instance"]: s.points for s in page.items}
    assert by_instance == {
        "db:9187": [(10 * S, 3.0), (20 * S, 9.5), (30 * S, 11.0)],
        "db2:9187": [(10 * S, 1.0)],
    }
    ranged = store.list_series(SeriesQuery("db_pool_in_use", since_ns=15 * S, until_ns=30 * S))
    assert {s.labels["instance"]: s.points for s in ranged.items} == {
        "db:9187": [(20 * S, 9.5)],
        "db2:9187": [],
    }
    assert store.list_series(SeriesQuery("db_pool_in_use", limit=1, offset=1)).total == 2
    assert store.list_series(SeriesQuery("missing")).items == []
    names = store.metric_names()
    assert (names.items, names.total) == ([("db_pool_in_use", 2), ("up", 1)], 2)
    assert store.metric_names(limit=1, offset=1).items == [("up", 1)]


def test_unstorable_text_in_labels_is_replaced_not_a_failure(sql_engine: Engine) -> None:
    store = SqlSeriesStore(sql_engine)
    assert store.add_series([MetricSeries("m\x00", {"k\x00": "a\x00b"}, [(S, 1.0)])]) == 1
    (series,) = store.list_series(SeriesQuery("m\x00")).items
    assert series.labels == {"k\ufffd": "a\ufffdb"}


def test_series_between_gives_every_series_with_points_in_a_window(sql_engine: Engine) -> None:
    store = SqlSeriesStore(sql_engine)
    store.add_series(
        [
            MetricSeries("pool", {"service": "a"}, [(5 * S, 0.1), (15 * S, 0.2), (25 * S, 0.3)]),
            MetricSeries("queue", {"service": "a"}, [(30 * S, 4.0)]),
        ]
    )
    (pool,) = store.series_between(10 * S, 30 * S)
    assert (pool.metric, pool.labels, pool.points) == (
        "pool", {"service": "a"}, [(15 * S, 0.2), (25 * S, 0.3)],
    )  # fmt: skip
    assert sorted(s.metric for s in store.series_between(0, 100 * S)) == ["pool", "queue"]
    assert store.series_between(40 * S, 50 * S) == []
