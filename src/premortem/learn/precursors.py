"""Precursor mining: what shows up before a failure mode's onset and not in healthy windows.

Every candidate is scored per mode at run level:
- *support*: the share of the mode's episodes in which it appeared before onset;
- *precision*: of the runs (or windows) in which it appeared before their onset/end, the share
  that were episodes of this mode;
- *lead times*: onset minus its first appearance, per episode.

Candidates: log templates never seen in normal operation (and "any new warning/error template of
service S"), injected fault types, load parameters above a threshold, ordered event pairs, and
simulation series above a threshold.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from premortem.domain import (
    ERROR_SEVERITY,
    WARN_SEVERITY,
    Event,
    SimulationRun,
    TestRun,
    Trigger,
    TriggerKind,
    datetime_to_ns,
    stable_id,
)
from premortem.ingest.severity import without_header
from premortem.learn.episodes import Episode
from premortem.learn.timeline import Timeline, is_warning_or_worse

HORIZONS_S = (10, 30, 60, 120, 300, 600)
MAX_HORIZON_NS = HORIZONS_S[-1] * 1_000_000_000
MIN_PRECISION = 0.3
TRIGGERS_PER_KIND = 5
# A log line that typically shows up less than this before the failure is part of the failure's
# burst (the database cancels the statement, then the app answers 503), not a warning of it.
MIN_LEAD_S = 1.0
# Numeric parameters that describe the run, not the load on the system: a failed run lasts longer
# because it failed, so its duration would "predict" the failure it contains.
NOT_LOAD = frozenset({"duration_s", "seed", "round", "run", "attempt", "iteration"})


@dataclass(slots=True)
class RunView:
    """One run as the miner sees it: where normal operation ends and where watching stops."""

    run: TestRun
    timeline: Timeline
    normal_end_ns: int
    watch_end_ns: int
    episode: Episode | None = None
    # Per template, how many of its first lines are the run before's tail (`spilled_over`).
    spill: dict[int, int] = field(default_factory=dict)

    def own_firsts(self) -> Iterator[tuple[int, int]]:
        """(template id, its first line of this run's own, past the run before's tail)."""
        for template_id, times in self.timeline.times.items():
            skip = self.spill.get(template_id, 0)
            if skip < len(times):
                yield template_id, times[skip]


@dataclass(slots=True)
class Candidate:
    kind: TriggerKind
    description: str
    condition: dict[str, Any]
    hits: int = 0  # episodes of the mode where it appeared
    seen: int = 0  # runs/windows where it appeared at all
    episodes: int = 1
    lead_times_s: list[float] = field(default_factory=list)

    @property
    def support(self) -> float:
        return self.hits / self.episodes if self.episodes else 0.0

    @property
    def precision(self) -> float:
        return self.hits / self.seen if self.seen else 0.0

    @property
    def score(self) -> float:
        lead = statistics.median(self.lead_times_s) if self.lead_times_s else 0.0
        return self.precision * self.support + min(lead, 600.0) / 1e6

    def to_trigger(self, mode_id: str) -> Trigger:
        return Trigger(
            id="tr-" + stable_id(mode_id, self.kind.value, self.condition)[:16],
            kind=self.kind,
            description=self.description,
            condition=self.condition,
            support=round(self.support, 4),
            precision=round(self.precision, 4),
            lead_times_s=sorted(round(x, 3) for x in self.lead_times_s),
        )


def healthy_templates(views: Sequence[RunView]) -> set[int]:
    """Templates seen in normal operation: passing runs and before any fault started — but
    not in the tail of the run before (`RunView.spill`)."""
    healthy: set[int] = set()
    for view in views:
        healthy.update(t for t, first in view.own_firsts() if first < view.normal_end_ns)
    return healthy


def healthy_levels(views: Sequence[RunView]) -> dict[int, int]:
    """Per template seen in normal operation at a warning or worse, the worst `alarm_class` it
    had there (a template missing here was only ever logged below WARN in normal operation)."""
    levels: dict[int, int] = {}
    for view in views:
        for template_id, first in view.own_firsts():
            if first >= view.normal_end_ns:
                continue
            worst = max(
                (
                    alarm_class(severity)
                    for when, severity in view.timeline.alarms.get(template_id, ())
                    if first <= when < view.normal_end_ns
                ),
                default=0,
            )
            if worst > levels.get(template_id, 0):
                levels[template_id] = worst
    return levels


def alarm_class(severity: int) -> int:
    """0 below WARN, 1 for a warning, 2 for an error or worse."""
    return 2 if severity >= ERROR_SEVERITY else 1 if severity >= WARN_SEVERITY else 0


# How far apart the run before's lines may come at a run's start and still be its tail.
SPILL_GAP_S = 5.0


def spilled_over(
    previous: Timeline, previous_fault_ns: int, start_ns: int, timeline: Timeline
) -> dict[int, int]:
    """Per template, how many of a run's first lines go on with what the run before logged
    after its fault began: its failure's tail, not this run's normal operation.

    Runs back to back: requests in flight when one run's fault was rolled back fail in the
    first second of the next, so that run's "normal" part held the failure line, which was
    then taken for healthy — no mode had it as its failure, and no failure was recognised live
    (a trial). Only templates the run before first logged after its fault started count, and
    only while they keep coming from this run's start, each within SPILL_GAP_S of the last."""
    gap = int(SPILL_GAP_S * 1e9)
    spill = {}
    for template_id, before in previous.times.items():
        times = timeline.times.get(template_id)
        if not times or before[0] < previous_fault_ns:
            continue
        count, last = 0, start_ns
        while count < len(times) and times[count] - last <= gap:
            last = times[count]
            count += 1
        if count:
            spill[template_id] = count
    return spill


def novel_key(timeline: Timeline, template_id: int) -> str:
    level = "error" if timeline.severity[template_id] >= 17 else "warn"
    return f"novel:{timeline.service[template_id]}:{level}"


def log_candidates(
    mode_episodes: Sequence[RunView], views: Sequence[RunView], healthy: set[int]
) -> list[Candidate]:
    """Unhealthy templates and per-service novelty, scored for one mode."""
    n = len(mode_episodes)
    hits: dict[Any, list[float]] = defaultdict(list)
    describe: dict[Any, tuple[str, dict[str, Any]]] = {}
    # The failure's own lines are its manifestation, never its precursors (learn/onset.py).
    manifest = {t for v in mode_episodes if v.episode for t in v.episode.manifest}
    for view in mode_episodes:
        onset = view.watch_end_ns
        firsts: dict[Any, int] = {}
        for template_id, when in _unhealthy_firsts(view, healthy, onset - MAX_HORIZON_NS):
            if template_id in manifest:
                continue
            firsts.setdefault(template_id, when)
            timeline = view.timeline
            if is_warning_or_worse(timeline.severity[template_id]):
                key = novel_key(timeline, template_id)
                firsts[key] = min(firsts.get(key, when), when)
                describe.setdefault(key, _novel_description(key))
            sample = timeline.samples[template_id]
            describe.setdefault(
                template_id,
                _template_description(
                    template_id,
                    sample.service,
                    sample.line,
                    timeline.templates.get(template_id) or sample.line,
                ),
            )
        for key, when in firsts.items():
            hits[key].append((onset - when) / 1e9)
    seen = _seen_counts(views, healthy, set(hits))
    candidates = []
    for key, leads in hits.items():
        if statistics.median(leads) < MIN_LEAD_S:
            continue  # it comes with the failure (the same burst), not before it
        text, condition = describe[key]
        candidates.append(
            Candidate(
                TriggerKind.LOG_PATTERN,
                text,
                condition,
                len(leads),
                max(seen.get(key, 0), len(leads)),
                n,
                leads,
            )
        )
    return candidates


def _unhealthy_firsts(view: RunView, healthy: set[int], since_ns: int) -> list[tuple[int, int]]:
    out = []
    for template_id in view.timeline.times:
        if template_id in healthy:
            continue
        when = view.timeline.first_in(template_id, since_ns, view.watch_end_ns)
        if when is not None:
            out.append((template_id, when))
    return sorted(out, key=lambda item: item[1])


def _seen_counts(views: Sequence[RunView], healthy: set[int], keys: set[Any]) -> dict[Any, int]:
    """In how many runs each key appeared before the run's onset (or end)."""
    seen: dict[Any, int] = defaultdict(int)
    for view in views:
        present: set[Any] = set()
        for template_id, _ in _unhealthy_firsts(view, healthy, view.timeline.start_ns):
            if template_id in keys:
                present.add(template_id)
            if is_warning_or_worse(view.timeline.severity[template_id]):
                present.add(novel_key(view.timeline, template_id))
        for key in present & keys:
            seen[key] += 1
    return seen


def _novel_description(key: str) -> tuple[str, dict[str, Any]]:
    _, service, level = key.split(":")
    where = "any service" if service == "*" else service
    what = "an error" if level == "error" else "a warning"
    text = f"{what} template never seen in normal operation appears in {where}"
    return text, {"novel": True, "service": service, "min_severity": level.upper()}


def _template_description(
    template_id: int, service: str, line: str, template: str
) -> tuple[str, dict[str, Any]]:
    """A trigger reads as the template (variables masked), the sample line is kept beside it."""
    shown = without_header(template.splitlines()[0], line) if template else line
    text = f"{service} logs: {shown[:160]}"
    return text, {
        "template_id": template_id,
        "service": service,
        "template": template[:300],
        "sample": line[:300],
    }


# --------------------------------------------------------------------------- conditions


def fault_candidates(mode_episodes: Sequence[RunView], views: Sequence[RunView]) -> list[Candidate]:
    n = len(mode_episodes)
    per_type: dict[str, list[float]] = defaultdict(list)
    for view in mode_episodes:
        for fault in view.run.fault_types:
            lead = (view.watch_end_ns - view.normal_end_ns) / 1e9
            per_type[fault].append(max(lead, 0.0))
    seen: dict[str, int] = defaultdict(int)
    for view in views:
        for fault in view.run.fault_types:
            seen[fault] += 1
    return [
        Candidate(
            TriggerKind.FAULT_CONDITION,
            f"fault {fault} is injected",
            {"fault_type": fault},
            len(leads),
            seen[fault],
            n,
            leads,
        )
        for fault, leads in per_type.items()
    ]


def load_candidates(mode_episodes: Sequence[RunView], views: Sequence[RunView]) -> list[Candidate]:
    """`parameter >= x` where x is the lowest value among the mode's episodes."""
    n = len(mode_episodes)
    candidates = []
    names = {
        k
        for v in mode_episodes
        for k, x in v.run.parameters.items()
        if _is_number(x) and k not in NOT_LOAD
    }
    for name in sorted(names):
        values = [
            float(v.run.parameters[name])
            for v in mode_episodes
            if _is_number(v.run.parameters.get(name))
        ]
        threshold = min(values)
        above = [
            v
            for v in views
            if _is_number(v.run.parameters.get(name)) and float(v.run.parameters[name]) >= threshold
        ]
        if len(above) == len([v for v in views if _is_number(v.run.parameters.get(name))]):
            continue  # every run is above: the threshold separates nothing
        candidates.append(
            Candidate(
                TriggerKind.LOAD_CONDITION,
                f"{name} >= {threshold:g}",
                {"parameter": name, "op": ">=", "value": threshold},
                len(values),
                len(above),
                n,
                [],
            )
        )
    return candidates


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def event_candidates(
    mode_episodes: Sequence[RunView], views: Sequence[RunView], events: Sequence[Event]
) -> list[Candidate]:
    """Event types (a deploy) and ordered pairs of them (A then B) seen before onset in the
    failed run's own window (from its start, at most the longest horizon before the onset): an
    event of the run before is no precursor of this one. `seen` counts the runs whose window
    (until the onset, or the end) held it, failed or not, so a good deploy lowers a deploy's
    precision."""
    if not events:
        return []
    ordered = sorted(events, key=lambda e: e.time_ns)
    n = len(mode_episodes)
    hits: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for view in mode_episodes:
        since = max(_run_start_ns(view), view.watch_end_ns - MAX_HORIZON_NS)
        for sequence, when in _sequences(ordered, since, view.watch_end_ns).items():
            hits[sequence].append((view.watch_end_ns - when) / 1e9)
    seen: dict[tuple[str, ...], int] = defaultdict(int)
    for view in views:
        for sequence in _sequences(ordered, _run_start_ns(view), view.watch_end_ns):
            seen[sequence] += 1
    return [
        Candidate(
            TriggerKind.EVENT_SEQUENCE,
            " followed by ".join(sequence) if len(sequence) > 1 else f"{sequence[0]} event",
            {"sequence": list(sequence), "within_s": HORIZONS_S[-1]},
            len(leads),
            max(seen[sequence], len(leads)),
            n,
            leads,
        )
        for sequence, leads in sorted(hits.items())
    ]


def _run_start_ns(view: RunView) -> int:
    return datetime_to_ns(view.run.timestamp)


def _sequences(events: Sequence[Event], since_ns: int, until_ns: int) -> dict[tuple[str, ...], int]:
    """Each event type, and each ordered pair of two types, in [since, until): its first time."""
    window = [e for e in events if since_ns <= e.time_ns < until_ns]
    found: dict[tuple[str, ...], int] = {}
    for i, first in enumerate(window):
        found.setdefault((first.type,), first.time_ns)
        for second in window[i + 1 :]:
            if second.type != first.type:
                found.setdefault((first.type, second.type), first.time_ns)
    return found


def simulation_candidates(
    mode_service: str, mode_episodes: int, simulations: Sequence[SimulationRun]
) -> list[Candidate]:
    """`p95(series) >= x` separating simulations that ended in trouble (any event) from others."""
    relevant = [s for s in simulations if not mode_service or s.service in ("", None, mode_service)]
    troubled = [s for s in relevant if s.events]
    if not troubled or len(troubled) == len(relevant):
        return []
    candidates = []
    for name in sorted({series.name for s in troubled for series in s.series}):
        threshold = min(_p95(s, name) for s in troubled)
        above = [s for s in relevant if _p95(s, name) >= threshold]
        hits = len([s for s in above if s.events])
        candidates.append(
            Candidate(
                TriggerKind.SIMULATION_CONDITION,
                f"simulated p95 {name} >= {threshold:.3g}",
                {
                    "series": name,
                    "statistic": "p95",
                    "op": ">=",
                    "value": threshold,
                    "simulations": [s.simulation_id for s in troubled][:20],
                },
                hits,
                len(above),
                len(troubled),
                [],
            )
        )
    return candidates


def _p95(run: SimulationRun, name: str) -> float:
    series = run.series_named(name)
    values = sorted(v for v in (series.values if series else []) if v is not None)
    return values[min(len(values) - 1, int(0.95 * len(values)))] if values else float("-inf")


def best_triggers(
    mode_id: str, candidates: Sequence[Candidate], *, base_rate: float
) -> list[Trigger]:
    """The best few candidates of each kind that beat the mode's base rate.

    Beating it means a lift above one: a candidate seen in failing and passing runs alike (an
    access-log line, present in every run) is as likely before a pass as before a failure and
    predicts nothing. Only when every run failed is a perfect candidate taken at the base rate:
    there is nothing to contrast it with."""
    by_kind: dict[TriggerKind, list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        lifts = candidate.precision > base_rate or candidate.precision == 1.0
        if lifts and candidate.precision >= MIN_PRECISION and candidate.hits:
            by_kind[candidate.kind].append(candidate)
    triggers = []
    for kind_candidates in by_kind.values():
        kind_candidates.sort(key=lambda c: c.score, reverse=True)
        triggers += [c.to_trigger(mode_id) for c in kind_candidates[:TRIGGERS_PER_KIND]]
    return triggers


def run_fault_start(run: TestRun) -> int | None:
    starts = [
        datetime_to_ns(f.start)
        for f in run.injected_faults
        if f.start is not None and not isinstance(f.start, int | float)
    ]
    return min(starts) if starts else None


def parameters_of(views: Mapping[str, RunView]) -> dict[str, Any]:
    return {k: v.run.parameters for k, v in views.items()}
