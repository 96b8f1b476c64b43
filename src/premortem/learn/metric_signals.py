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

**Levels in warning lines** are series too (`timeline.level_series`: "volume /data is 81% full"
gives `level:<template id>#0/3` = 81). A fault held below what breaks the system logs the same
warnings as one that breaks it, and often only the level tells them apart (the volume that
stays at 81 %, the one that climbs to 91 %). Such a series is learned by the same rule, with
one more: a number that only grows (an order number, a clock) exceeds everything seen before in
whatever run comes last, so it would pass for a level that precedes failures. A level must show
that it is not one: a run where no failure followed showed it *after* a failure it fired before,
or it went down between runs at least once (a run's lowest value below an earlier run's
highest: the capped fill at 80-82 % before the one that climbed from 80 % to full).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from premortem.conditions import FAULT
from premortem.domain import MAX_NS, MetricSeries, stable_id
from premortem.learn.precursors import MAX_HORIZON_NS, RunView
from premortem.learn.timeline import Timeline, level_template

MARGIN = 0.1
TINY = 1e-9
MIN_NORMAL_POINTS = 5
MIN_TRIGGER_EPISODES = 2
MAX_METRIC_INDICATORS = 12
MAX_LEVEL_INDICATORS = 8
PREFIX = "metric:"


@dataclass(frozen=True, slots=True)
class MetricThreshold:
    series_id: str
    above: float
    normal_high: float


# Labels that name one process rather than what is measured: Prometheus' scrape target, the
# OpenTelemetry SDK's `service.instance.id` (a random id per process start), a container's or a
# pod's unique id. A signal learned on them would never fire again after a restart or a
# redeploy; the same metric of another instance of the service is the same signal.
PER_PROCESS_LABELS = frozenset(
    {"instance", "container_id", "container.id", "pod_uid", "k8s_pod_uid", "k8s.pod.uid"}
)
# Labels holding a Kubernetes pod's name (cAdvisor and kube-state-metrics, Prometheus'
# Kubernetes discovery, the OpenTelemetry resource attribute as given and as exported).
POD_LABELS = frozenset({"pod", "pod_name", "kubernetes_pod_name", "k8s_pod_name", "k8s.pod.name"})
# A generated pod name ends in five random characters, after the ReplicaSet's pod-template hash
# for a Deployment's pods, both from Kubernetes' alphabet without vowels (and 0, 1, 3); a
# StatefulSet's `name-0` is stable and kept. What is left names the workload, which a redeploy
# keeps: `ts-contacts-service-866bd68c97-xcqfx` → `ts-contacts-service`.
_POD_SUFFIX = re.compile(
    r"(?:-[bcdfghjklmnpqrstvwxz2456789]{6,10})?-[bcdfghjklmnpqrstvwxz2456789]{5}$"
)


def workload_of(pod: str) -> str:
    """A Kubernetes pod's name without what each new pod gets anew (its workload's name)."""
    return _POD_SUFFIX.sub("", pod) or pod


def _signal_labels(series: MetricSeries) -> list[tuple[str, str]]:
    return sorted(
        (k, workload_of(v) if k in POD_LABELS else v)
        for k, v in series.labels.items()
        if k not in PER_PROCESS_LABELS
    )


def signal_id(series: MetricSeries) -> str:
    """The series' identity as a signal: its metric and labels but the per-process ones."""
    return "sig-" + stable_id(series.metric, _signal_labels(series))[:24]


def indicator_name(series: MetricSeries) -> str:
    labels = ",".join(f"{k}={v}" for k, v in _signal_labels(series))
    return f"{PREFIX}{series.metric}{{{labels}}}"


def firing_times(points: Sequence[tuple[int, float]], threshold: float) -> list[int]:
    return [t for t, value in points if value > threshold]


def attach(
    timeline: Timeline, series: Sequence[MetricSeries], since_ns: int, until_ns: int
) -> None:
    """Put the series' points inside [since, until) (the run's window) on its timeline."""
    for s in series:
        points = [(t, v) for t, v in s.points if since_ns <= t < until_ns]
        if points:
            key = signal_id(s)  # several instances (processes) of one signal: their points
            timeline.metrics[key] = sorted([*timeline.metrics.get(key, ()), *points])
            timeline.metric_names[key] = indicator_name(s)


def normal_values(series: Sequence[MetricSeries]) -> dict[str, list[float]]:
    """Signal id -> the values of samples taken in normal time outside every run."""
    values: dict[str, list[float]] = defaultdict(list)
    for s in series:
        values[signal_id(s)] += [v for _, v in s.points]
    return dict(values)


def learn_metric_indicators(
    views: Sequence[RunView],
    *,
    levels: bool = False,
    outside: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, MetricThreshold]:
    """Indicator name -> threshold of every series that rose past its normal range before
    failures (module docstring), the most telling first, at most MAX_METRIC_INDICATORS; with
    `levels`, the warning lines' numbers instead, at most MAX_LEVEL_INDICATORS. `outside`:
    signal id -> values seen in normal time between the runs, part of the normal range too."""
    normal: dict[str, list[float]] = defaultdict(list)
    names: dict[str, str] = {}
    wanted = [
        (view, {k: p for k, p in view.timeline.metrics.items() if _is_level(k) == levels})
        for view in views
    ]
    for view, series in wanted:
        names |= {k: view.timeline.metric_names[k] for k in series}
        # A run that did not fail shows levels that are, by its own evidence, no sign of failure
        # (a fault the system absorbed included); a failed run, only its part before the fault.
        until = view.normal_end_ns if view.episode is not None else MAX_NS
        for key, points in series.items():
            normal[key] += [v for t, v in points if t < until]
    outside = outside or {}
    for key in sorted(normal.keys() & outside.keys()):
        normal[key] += outside[key]
    thresholds = {
        key: _threshold(values)
        for key, values in normal.items()
        if len(values) >= MIN_NORMAL_POINTS
    }
    before_failure: dict[str, int] = defaultdict(int)
    without_failure: dict[str, int] = defaultdict(int)
    first_fired: dict[str, int] = {}  # the start of the earliest run it fired before a failure
    normal_since: dict[str, int] = {}  # the start of the latest run that showed it normal
    ranges: dict[str, list[tuple[int, float, float]]] = defaultdict(list)  # per run, for levels
    for view, series in wanted:
        for key, points in series.items():
            above = thresholds.get(key)
            if above is None:
                continue
            fired = firing_times(points, above[0])
            start = view.timeline.start_ns
            if view.episode is not None:
                since = view.watch_end_ns - MAX_HORIZON_NS
                hit = any(since <= t < view.watch_end_ns for t in fired)
                before_failure[key] += hit
                if hit:
                    first_fired[key] = min(first_fired.get(key, start), start)
            else:
                without_failure[key] += bool(fired)
            if view.episode is None or any(t < view.normal_end_ns for t, _ in points):
                normal_since[key] = max(normal_since.get(key, start), start)
            values = [v for _, v in points]
            ranges[key].append((start, min(values), max(values)))
    kept = [
        key
        for key, hits in before_failure.items()
        if hits >= MIN_TRIGGER_EPISODES
        and without_failure[key] <= hits
        and (not levels or normal_since.get(key, -1) > first_fired[key] or _went_down(ranges[key]))
    ]
    kept.sort(key=lambda key: (without_failure[key] - before_failure[key], names[key]))
    cap = MAX_LEVEL_INDICATORS if levels else MAX_METRIC_INDICATORS
    return {
        names[key]: MetricThreshold(key, thresholds[key][0], thresholds[key][1])
        for key in kept[:cap]
    }


def signals_by_mode(
    edges: Sequence[tuple[str, str]],
    thresholds: dict[str, tuple[str, float]],
    template_text: Callable[[int], str],
    modes: Sequence[str] = (),
    raises: Callable[[str, str], bool] = lambda _indicator, _mode: True,
) -> dict[str, list[dict[str, object]]]:
    """Per mode, the metric series and warning-line levels the network takes as its precursors,
    readable: they are no trigger of the mode's document (they live in the model), so the train
    answer and the mode page list them from here. A direct parent of the mode, or (`"via":
    "fault"`) a child of the injected-fault variable where that is one of the mode's parents:
    seen live, it says which fault is on and so moves the mode's probability (an alert cited a
    queue-depth metric the summary did not list) — when it `raises(indicator, mode)` the mode's
    probability (another fault's signal lowers it). `modes`: the network's modes (default: the
    children of a metric or level)."""
    parents: dict[str, set[str]] = defaultdict(set)
    for parent, child in edges:
        parents[child].add(parent)
    told_by_fault = sorted(
        child for parent, child in edges if parent == FAULT and child in thresholds
    )
    targets = modes or sorted({child for parent, child in edges if parent in thresholds})
    found: dict[str, list[dict[str, object]]] = {}
    for mode_id in sorted(targets):
        direct = sorted(p for p in parents[mode_id] if p in thresholds)
        via = (
            [i for i in told_by_fault if i not in direct and raises(i, mode_id)]
            if FAULT in parents[mode_id]
            else []
        )
        listed = [_signal(i, thresholds[i], template_text) for i in direct]
        listed += [{**_signal(i, thresholds[i], template_text), "via": "fault"} for i in via]
        if listed:
            found[mode_id] = listed
    return found


def _signal(
    indicator: str, threshold: tuple[str, float], template_text: Callable[[int], str]
) -> dict[str, object]:
    series_id, above = threshold
    template_id = level_template(series_id)
    if template_id is None:
        return {
            "indicator": indicator,
            "kind": "metric",
            "above": above,
            "what": f"{indicator[len(PREFIX) :]} above {above:g}",
        }
    place = series_id[series_id.index("#") + 1 :]
    j, _, n = place.partition("/")
    where = f"number {int(j) + 1} of {n}" if j.isdigit() and n.isdigit() else f'field "{place}"'
    what = f'{where} in "{template_text(template_id)}" above {above:g}'
    return {"indicator": indicator, "kind": "level", "above": above, "what": what}


def _went_down(runs: list[tuple[int, float, float]]) -> bool:
    """Whether some run's lowest value was below an earlier run's highest (runs by start): a
    counter or a clock never does, a level that rises under a fault and falls back does."""
    highest = None
    for _, low, high in sorted(runs):
        if highest is not None and low < highest:
            return True
        highest = high if highest is None else max(highest, high)
    return False


def _is_level(series_id: str) -> bool:
    return level_template(series_id) is not None


def _threshold(values: list[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    return high + MARGIN * max(high - low, abs(high), TINY), high
