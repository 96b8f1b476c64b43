"""Metric precursors: a live series rising past anything seen in normal operation.

A log line is new or it is not; a metric is always there, and what can precede a failure is its
*level*: pool usage climbing, a queue growing. For each stored series (metric + label set) seen in
training, the levels that were not followed by a failure — every run that did not fail (a fault
it absorbed included), and each failed run's part before its fault started — set its normal
range [low, high]. The series *fires* at every sample above

    high + MARGIN · max(high − low, |high|, TINY)

(ten per cent of its normal spread above the highest normal value, so a flat normal series still
has a margin). A series becomes the indicator `metric:<name>{labels}` when it fired before the
onset, within the longest horizon, of at least MIN_TRIGGER_EPISODES failures and in at most as
many runs where no failure followed as where one did (it must say something about failure, not
merely "a fault was injected"). Like a log template indicator it is then a variable of the
network, and the online predictor fires it from live samples (`OnlinePredictor.observe_series`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from premortem.domain import MAX_NS, MetricSeries
from premortem.learn.precursors import MAX_HORIZON_NS, RunView
from premortem.learn.timeline import Timeline

MARGIN = 0.1
TINY = 1e-9
MIN_NORMAL_POINTS = 5
MIN_TRIGGER_EPISODES = 2
MAX_METRIC_INDICATORS = 12
PREFIX = "metric:"


@dataclass(frozen=True, slots=True)
class MetricThreshold:
    series_id: str
    above: float
    normal_high: float


def indicator_name(series: MetricSeries) -> str:
    labels = ",".join(f"{k}={v}" for k, v in sorted(series.labels.items()))
    return f"{PREFIX}{series.metric}{{{labels}}}"


def firing_times(points: Sequence[tuple[int, float]], threshold: float) -> list[int]:
    return [t for t, value in points if value > threshold]


def attach(
    timeline: Timeline, series: Sequence[MetricSeries], since_ns: int, until_ns: int
) -> None:
    """Put the series' points inside [since, until) (the run's window) on its timeline."""
    for s in series:
        points = sorted((t, v) for t, v in s.points if since_ns <= t < until_ns)
        if points:
            timeline.metrics[s.id] = points
            timeline.metric_names[s.id] = indicator_name(s)


def learn_metric_indicators(views: Sequence[RunView]) -> dict[str, MetricThreshold]:
    """Indicator name -> threshold of every series that rose past its normal range before
    failures (module docstring), the most telling first, at most MAX_METRIC_INDICATORS."""
    normal: dict[str, list[float]] = defaultdict(list)
    names: dict[str, str] = {}
    for view in views:
        names |= view.timeline.metric_names
        # A run that did not fail shows levels that are, by its own evidence, no sign of failure
        # (a fault the system absorbed included); a failed run, only its part before the fault.
        until = view.normal_end_ns if view.episode is not None else MAX_NS
        for key, points in view.timeline.metrics.items():
            normal[key] += [v for t, v in points if t < until]
    thresholds = {
        key: _threshold(values)
        for key, values in normal.items()
        if len(values) >= MIN_NORMAL_POINTS
    }
    before_failure: dict[str, int] = defaultdict(int)
    without_failure: dict[str, int] = defaultdict(int)
    for view in views:
        for key, points in view.timeline.metrics.items():
            above = thresholds.get(key)
            if above is None:
                continue
            fired = firing_times(points, above[0])
            if view.episode is not None:
                since = view.watch_end_ns - MAX_HORIZON_NS
                before_failure[key] += any(since <= t < view.watch_end_ns for t in fired)
            else:
                without_failure[key] += bool(fired)
    kept = [
        key
        for key, hits in before_failure.items()
        if hits >= MIN_TRIGGER_EPISODES and without_failure[key] <= hits
    ]
    kept.sort(key=lambda key: (without_failure[key] - before_failure[key], names[key]))
    return {
        names[key]: MetricThreshold(key, thresholds[key][0], thresholds[key][1])
        for key in kept[:MAX_METRIC_INDICATORS]
    }


def _threshold(values: list[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    return high + MARGIN * max(high - low, abs(high), TINY), high
