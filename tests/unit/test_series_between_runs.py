"""Which samples count as normal time between runs (`runtime.training.series_between_runs`):
outside every run's window, between the first run's start and the last window's end, not in a
faulty or failed run's recovery (a horizon after its window) nor a horizon around a failure
reported outside the runs, nor at or after `until` (a held-out part)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from premortem.domain import InjectedFault, MetricSeries, TestRun
from premortem.runtime.training import run_windows_ns, series_between_runs

S = 1_000_000_000
START = datetime(2026, 12, 1, tzinfo=UTC)
T0 = int(START.timestamp()) * S


class Store:
    def __init__(self, points: list[tuple[int, float]]) -> None:
        self.series = MetricSeries("cpu", {"service": "api"}, points)

    def series_between(self, since_ns: int, until_ns: int) -> list[MetricSeries]:
        inside = [(t, v) for t, v in self.series.points if since_ns <= t < until_ns]
        return [MetricSeries(self.series.metric, self.series.labels, inside)]


def _run(name: str, at_s: int, *, faulty: bool = False) -> TestRun:
    return TestRun(
        test_id=name,
        timestamp=START + timedelta(seconds=at_s),
        ended_at=START + timedelta(seconds=at_s + 60),
        expected_outcome="pass",
        actual_outcome="pass",
        injected_faults=[InjectedFault(type="cpu", start=10)] if faulty else [],
    )


def test_only_normal_time_between_the_runs_is_kept() -> None:
    runs = [_run("a", 0, faulty=True), _run("b", 1000), _run("c", 2000)]
    every_50_s = Store([(T0 + s * S, float(s)) for s in range(-200, 3200, 50)])
    kept = series_between_runs(
        every_50_s,
        runs,
        run_windows_ns(runs),
        horizon_ns=300 * S,
        failures_ns=[T0 + 1500 * S],
        until_ns=T0 + 1900 * S,
    )
    (series,) = kept
    seconds = [int((t - T0) // S) for t, _ in series.points]
    # before the first run: not between runs; 0–60 run a; 60–360 its recovery; 1000–1060 run
    # b; 1200–1800 around the failure at 1500 (1800 itself is after it); from 1900 held out
    assert seconds == [
        *range(400, 1000, 50),  # after a's recovery, before b
        1100,
        1150,
        1800,
        1850,
    ]


def test_no_store_or_no_runs_gives_nothing() -> None:
    assert series_between_runs(None, [_run("a", 0)], {"a": (0, 1)}, horizon_ns=S) == []
    assert series_between_runs(Store([(T0, 1.0)]), [], {}, horizon_ns=S) == []
