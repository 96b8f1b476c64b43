"""Issue 15: every page's window — relative, absolute from/to, or fitted to the stored data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import HTTPException
from sqlalchemy.engine import Engine

from premortem.domain import LogRecord, datetime_to_ns
from premortem.service.ui import timerange
from premortem.store.engine import make_engine, migrate
from premortem.store.inputs import SqlInputStore
from premortem.store.overview import SqlOverview

NS = 1_000_000_000
NOW = datetime_to_ns(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
SEED = datetime_to_ns(datetime(2023, 11, 15, 14, 28, tzinfo=UTC))


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    migrate(engine)
    return engine


def _extent(engine: Engine) -> timerange.Extent:
    return SqlOverview(engine).data_extent


def _store_logs(engine: Engine, *times: int) -> None:
    records = [LogRecord(time_ns=at, service="s", body=f"line {i}") for i, at in enumerate(times)]
    SqlInputStore(engine).add_logs(records)


def test_no_data_gives_the_default_relative_range(engine: Engine) -> None:
    window = timerange.choose(_extent(engine), NOW, None, None, None)
    assert (window.name, window.since_ns, window.jump) == ("24h", NOW - 86400 * NS, None)


def test_old_data_only_fits_the_default_to_it(engine: Engine) -> None:
    # `make serve`'s seed example is from 2023: the page opens on it, not on an empty day.
    _store_logs(engine, SEED, SEED + 420 * NS)
    window = timerange.choose(_extent(engine), NOW, None, None, None)
    assert window.name == "custom"
    assert window.since_ns < SEED and window.until_ns > SEED + 420 * NS
    assert window.until_ns - window.since_ns < 600 * NS  # the 7 minutes fill the chart
    assert window.label == "2023-11-15 14:27 – 14:36 UTC"


def test_recent_data_keeps_the_last_24_hours(engine: Engine) -> None:
    _store_logs(engine, SEED, NOW - 3600 * NS)
    assert timerange.choose(_extent(engine), NOW, None, None, None).name == "24h"


def test_a_chosen_empty_range_offers_a_jump_to_the_data(engine: Engine) -> None:
    _store_logs(engine, SEED)
    window = timerange.choose(_extent(engine), NOW, "7d", None, None)
    assert window.name == "7d" and window.jump is not None
    assert window.jump.since_ns < SEED < window.jump.until_ns
    assert window.jump.query.startswith("range=custom&from=2023-11-15T")


def test_absolute_from_to_round_trip_through_the_url(engine: Engine) -> None:
    window = timerange.choose(
        _extent(engine), NOW, "custom", "2023-11-15T14:20", "2023-11-15T14:40:30Z"
    )
    assert window.since_ns == datetime_to_ns(datetime(2023, 11, 15, 14, 20, tzinfo=UTC))
    assert window.until_ns == datetime_to_ns(datetime(2023, 11, 15, 14, 40, 30, tzinfo=UTC))
    assert window.query == "range=custom&from=2023-11-15T14:20:00Z&to=2023-11-15T14:40:30Z"
    # from/to alone mean custom; a relative range chosen in the menu wins over stale fields
    assert timerange.choose(_extent(engine), NOW, None, "2023-11-15T14:20", None).name == "custom"
    assert timerange.choose(_extent(engine), NOW, "1h", "2023-11-15T14:20", None).name == "1h"


@pytest.mark.parametrize(
    ("since", "until", "says"),
    [
        ("yesterday", None, "`from` must be a date"),
        ("2023-11-15T15:00", "2023-11-15T14:00", "before `to`"),
        ("0001-01-01T00:00", None, "within 1678"),
    ],
)
def test_bad_times_are_a_400_naming_the_field(
    engine: Engine, since: str, until: str | None, says: str
) -> None:
    with pytest.raises(HTTPException) as raised:
        timerange.choose(_extent(engine), NOW, "custom", since, until)
    assert raised.value.status_code == 400 and says in str(raised.value.detail)
