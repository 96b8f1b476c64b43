"""Tumbling windows: closing by record time and by the clock, replay equals live, bounds."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

from premortem.clock import ManualClock
from premortem.counts import Window
from premortem.domain import LogRecord
from premortem.logs.windows import WindowCounter, severity_bucket
from premortem.store.tables_windows import SqlWindowRepository, log_windows, template_windows

S = 1_000_000_000
T0 = 1_700_000_000 * S  # a multiple of 10 s


def rec(t_s: float, template: int = 1, *, service: str = "api", severity: int = 9) -> LogRecord:
    return LogRecord(
        time_ns=T0 + int(t_s * S),
        body=f"line {template}",
        service=service,
        template_id=template,
        severity_number=severity,
    )


def test_severity_buckets_follow_otel_ranges() -> None:
    assert [severity_bucket(n) for n in (0, 1, 4, 5, 9, 12, 13, 17, 21, 24)] == [
        "UNSPECIFIED", "TRACE", "TRACE", "DEBUG", "INFO", "INFO", "WARN", "ERROR", "FATAL", "FATAL"
    ]  # fmt: skip


def test_a_record_past_the_end_closes_the_window() -> None:
    counter = WindowCounter(10, clock=ManualClock())
    assert counter.add(rec(1, 1)) == []
    assert counter.add(rec(2, 2, severity=17)) == []
    assert counter.add(rec(3, 1, severity=13)) == []
    [window] = counter.add(rec(10, 1))
    assert (window.service, window.start_ns, window.end_ns) == ("api", T0, T0 + 10 * S)
    assert (window.total, window.errors) == (3, 1)
    assert dict(window.by_template) == {1: 2, 2: 1}
    assert dict(window.by_severity) == {"INFO": 1, "ERROR": 1, "WARN": 1}


def test_tick_closes_windows_from_the_clock() -> None:
    clock = ManualClock(T0)
    counter = WindowCounter(10, clock=clock)
    counter.add(rec(1))
    clock.set(T0 + 9 * S)
    assert counter.tick() == []
    clock.set(T0 + 10 * S)
    assert [w.total for w in counter.tick()] == [1]
    assert counter.tick() == []  # closed once


def test_replay_and_live_give_the_same_windows() -> None:
    records = [rec(t * 0.7, template=t % 3, service=("a", "b")[t % 2]) for t in range(200)]
    replay = WindowCounter(10, clock=ManualClock())
    from_replay = replay.add_many(records) + replay.tick(T0 + 200 * S)
    clock = ManualClock(T0)
    live = WindowCounter(10, clock=clock)
    from_live: list[Window] = []
    for record in records:
        clock.set(record.time_ns)
        from_live += live.tick() + live.add(record)
    clock.set(T0 + 200 * S)
    from_live += live.tick()

    def key(w: Window) -> tuple[str, int]:
        return (w.service, w.start_ns)

    assert [w.to_json() for w in sorted(from_replay, key=key)] == [
        w.to_json() for w in sorted(from_live, key=key)
    ]


def test_late_records_are_counted_but_never_change_a_closed_window() -> None:
    counter = WindowCounter(10, clock=ManualClock())
    counter.add(rec(1))
    [closed] = counter.add(rec(12))
    counter.add(rec(5))
    assert counter.late == 1 and closed.total == 1


def test_grace_keeps_a_window_open_for_stragglers() -> None:
    counter = WindowCounter(10, clock=ManualClock(), grace_s=5)
    counter.add(rec(1))
    assert counter.add(rec(12)) == []
    counter.add(rec(9))  # late but within grace
    [window] = counter.add(rec(15))
    assert window.total == 2 and counter.late == 0


def test_gaps_give_empty_windows_up_to_a_bound() -> None:
    counter = WindowCounter(10, clock=ManualClock(), max_empty=3)
    counter.add(rec(1))
    closed = counter.add(rec(1000))
    assert [w.total for w in closed] == [1, 0, 0, 0]
    assert [w.total for w in counter.tick(T0 + 1010 * S)] == [1]
    assert [w.total for w in counter.tick(T0 + 2000 * S)] == [0, 0, 0]


def test_windows_are_immutable_and_round_trip_through_json() -> None:
    counter = WindowCounter(10, clock=ManualClock())
    counter.add(rec(1, 5, severity=17))
    [window] = counter.tick(T0 + 10 * S)
    with pytest.raises(dataclasses.FrozenInstanceError):
        window.total = 9  # type: ignore[misc]
    with pytest.raises(TypeError):
        window.by_template[5] = 9  # type: ignore[index]
    assert Window.from_json(window.to_json()) == window


def test_memory_is_bounded() -> None:
    counter = WindowCounter(1, clock=ManualClock(), history=5, max_services=3)
    for t in range(100):
        counter.add(rec(t, service=f"s{t % 4}"))
    assert len(counter.services()) == 3
    assert all(len(counter.recent(s)) <= 5 for s in counter.services())


def test_series_counts_a_template_per_window_with_zeros() -> None:
    counter = WindowCounter(10, clock=ManualClock())
    for t, template in [(1, 7), (2, 7), (11, 8), (21, 7), (25, 7), (26, 7)]:
        counter.add(rec(t, template))
    counter.tick(T0 + 30 * S)
    series = counter.series(7, T0, T0 + 30 * S)
    assert [(p.start_ns - T0) // S for p in series] == [0, 10, 20]
    assert [p.count for p in series] == [2, 0, 3]
    assert counter.series(7, T0 + 10 * S, T0 + 20 * S)[0].count == 0
    assert counter.series(99, T0, T0 + 30 * S) == []


def test_repository_stores_windows_idempotently() -> None:
    # in-memory SQLite, no files
    engine = create_engine("sqlite://", poolclass=StaticPool)
    log_windows.create(engine)
    template_windows.create(engine)
    counter = WindowCounter(10, clock=ManualClock())
    records = [rec(t, template) for t, template in [(1, 7), (2, 7), (11, 8), (21, 7)]]
    windows = counter.add_many(records) + counter.tick(T0 + 30 * S)
    repository = SqlWindowRepository(engine)
    assert repository.add(windows) == 3
    assert repository.add(windows) == 3
    assert [(p.start_ns, p.count) for p in repository.series(7, T0, T0 + 30 * S)] == [
        (T0, 2),
        (T0 + 20 * S, 1),
    ]
    assert repository.list_windows("api", T0, T0 + 30 * S) == windows
