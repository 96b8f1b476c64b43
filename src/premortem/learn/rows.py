"""Precursor indicators and the training rows of the network.

An indicator is a binary signal that is active while it fired within the last `window_s`:
- ``novel:<service>:<warn|error>`` — a warning/error template never seen in normal operation;
- ``novel:*:<warn|error>`` — the same in any service (a service whose errors never preceded a
  failure in training can still warn of one);
- ``tpl:<id>`` — a specific template that preceded failures of a mode (a learned log trigger);
- ``metric:<name>{labels}`` — a metric series above its normal range (learn/metric_signals.py);
- ``level:<template id>#<j>/<n>`` — a number in a warning line above its normal range (the same).

Rows sample every run every `step_s` seconds (STEP_S, finer when runs are short) up to its onset
(or end): the active indicators at that moment, the injected fault type (once it started) and, per
mode, whether the mode manifested within the horizon. Sampling at a fixed step makes the network's
output a calibrated probability that a mode manifests within the horizon at a random moment with
that evidence.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from premortem.conditions import FAULT, NO_FAULT
from premortem.domain import ERROR_SEVERITY, WARN_SEVERITY, FailureMode, TriggerKind
from premortem.learn.episodes import Episode
from premortem.learn.network import ModeNetwork
from premortem.learn.precursors import MAX_HORIZON_NS, RunView, alarm_class
from premortem.learn.timeline import Timeline, level_series, level_template

STEP_S = 10.0
WINDOW_S = 300.0
MIN_WINDOW_S = 10.0
# An active signal that fires again after this share of the evidence window is a new incident.
REGAP_SHARE = 0.1
# A signal that kept coming at a steady pace (STEADY_GAPS gaps or more in one activation) has
# stopped once silent for SILENT_GAPS of its longest recent gap (at least the regap): the fault
# behind it is gone. Without this, a harmless fault rolled back at a run's end kept its warnings
# as evidence for a whole window into the next run, and its alert with them.
STEADY_GAPS = 3
SILENT_GAPS = 5
RECENT_GAPS = 4
MIN_STEP_S = 1.0
SAMPLES_PER_RUN = 20  # short runs (a chaos suite of 30 s experiments) are sampled more finely
MAX_INDICATORS = 48
TEMPLATE_INDICATORS_PER_MODE = 3
FAULT_FREE_ALERT_BUDGET = 0.01
ANY_SERVICE = "*"
MIN_TRIGGER_EPISODES = 2  # a template becomes an indicator after preceding this many failures


@dataclass(slots=True)
class IndicatorSet:
    """Which records fire which indicator; shared by training and the online predictor."""

    names: list[str]
    healthy: set[int]
    template_indicators: dict[int, str] = field(default_factory=dict)
    window_s: float = 300.0
    # Indicators that fired exactly together in training are one variable: name -> representative.
    aliases: dict[str, str] = field(default_factory=dict)
    step_s: float = STEP_S  # how often training samples a run (see `sampling_step_s`)
    # Templates training only ever saw after a failure's onset: its aftermath, known, not new.
    aftermath: set[int] = field(default_factory=set)
    # Metric indicators: name -> (series id, fires above this value).
    metric_thresholds: dict[str, tuple[str, float]] = field(default_factory=dict)
    # How far apart a failure's own lines come while it goes on (`failure_gap_s`).
    failure_gap_s: float = 0.0
    # Templates of normal operation at their worst level there (`healthy_levels`): a line of
    # one at a worse level is new all the same (an access line that turns 5xx). Off for
    # models saved before it (their `healthy` then counts at any level).
    healthy_levels: dict[int, int] = field(default_factory=dict)
    escalation: bool = False
    _name_set: frozenset[str] = frozenset()
    # Template id -> {level series id: (fires above, indicator)}, from metric_thresholds.
    _levels: dict[int, dict[str, tuple[float, str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._name_set = frozenset(self.names) | frozenset(self.aliases)
        self._levels = {}
        for name, (series_id, above) in sorted(self.metric_thresholds.items()):
            template_id = level_template(series_id)
            if template_id is not None:
                named = self.aliases.get(name, name)
                self._levels.setdefault(template_id, {})[series_id] = (above, named)

    def fired(self, template_id: int, service: str, severity: int) -> tuple[str, ...]:
        """The indicators one record fires (usually none)."""
        named = self.template_indicators.get(template_id)
        if (
            severity < WARN_SEVERITY
            or template_id in self.aftermath
            or (template_id in self.healthy and not self.escalated(template_id, severity))
        ):
            return (self.aliases.get(named, named),) if named else ()
        fired = [key for key in novelty_names(service, severity) if key in self._name_set]
        if named:
            fired.append(named)
        return tuple(dict.fromkeys(self.aliases.get(name, name) for name in fired))

    def escalated(self, template_id: int, severity: int) -> bool:
        """A line of a template of normal operation at a level worse than it ever had there."""
        return self.escalation and past_its_level(self.healthy_levels, template_id, severity)

    def firings(self, timeline: Timeline) -> dict[str, list[int]]:
        """Every indicator's firing times in one run (ascending)."""
        fires: dict[str, list[int]] = defaultdict(list)
        for template_id, times in timeline.times.items():
            service = timeline.service[template_id]
            if self.escalation and template_id in self.healthy:
                # its own indicator on every line, novelty only on the lines past its level
                named = self.template_indicators.get(template_id)
                if named:
                    fires[self.aliases.get(named, named)].extend(times)
                for when, severity in timeline.alarms.get(template_id, ()):
                    if self.escalated(template_id, severity):
                        for name in novelty_names(service, severity):
                            if name in self._name_set:
                                fires[self.aliases.get(name, name)].append(when)
                continue
            for name in self.fired(template_id, service, timeline.severity[template_id]):
                fires[name].extend(times)
        for name, (series_id, above) in self.metric_thresholds.items():
            points = timeline.metrics.get(series_id, ())
            fires[self.aliases.get(name, name)].extend(t for t, v in points if v > above)
        return {name: sorted(times) for name, times in fires.items() if times}

    @property
    def watched_levels(self) -> dict[int, dict[str, tuple[float, str]]]:
        """Templates whose warning lines carry a learned level, by template id."""
        return self._levels

    def levels_fired(
        self,
        template_id: int,
        body: str,
        severity: int,
        attributes: Mapping[str, object] | None = None,
    ) -> tuple[str, ...]:
        """The level indicators a live warning line fires with its numbers (usually none)."""
        watched = self._levels.get(template_id)
        if watched is None or severity < WARN_SEVERITY:
            return ()
        fired = []
        for series_id, value in level_series(template_id, body, attributes):
            held = watched.get(series_id)
            if held is not None and value > held[0]:
                fired.append(held[1])
        return tuple(fired)

    def metric_fired(self, series_id: str, value: float) -> str | None:
        """The indicator a live metric sample fires, if any."""
        for name, (known, above) in self.metric_thresholds.items():
            if known == series_id and value > above:
                return self.aliases.get(name, name)
        return None

    def to_state(self) -> dict[str, Any]:
        return {
            "names": self.names,
            "healthy": sorted(self.healthy),
            "template_indicators": {str(k): v for k, v in self.template_indicators.items()},
            "window_s": self.window_s,
            "aliases": self.aliases,
            "step_s": self.step_s,
            "aftermath": sorted(self.aftermath),
            "metric_thresholds": {k: list(v) for k, v in sorted(self.metric_thresholds.items())},
            "failure_gap_s": self.failure_gap_s,
            "healthy_levels": {str(k): v for k, v in sorted(self.healthy_levels.items())},
            "escalation": self.escalation,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> IndicatorSet:
        return cls(
            state["names"],
            set(state["healthy"]),
            {int(k): v for k, v in state["template_indicators"].items()},
            state["window_s"],
            dict(state.get("aliases", {})),
            float(state.get("step_s", STEP_S)),
            set(state.get("aftermath", [])),
            {k: (str(v[0]), float(v[1])) for k, v in state.get("metric_thresholds", {}).items()},
            float(state.get("failure_gap_s", 0.0)),
            {int(k): int(v) for k, v in state.get("healthy_levels", {}).items()},
            bool(state.get("escalation", False)),
        )


def indicator_set(
    views: Sequence[RunView],
    healthy: set[int],
    modes: Sequence[FailureMode],
    *,
    window_s: float = WINDOW_S,
    levels: Mapping[int, int] | None = None,
) -> IndicatorSet:
    """Novelty per service where it preceded a failure, plus each mode's best log triggers.
    `levels`: `healthy_levels` of the views (None: a healthy template is never new)."""
    novel_hits: dict[str, int] = defaultdict(int)
    for view in views:
        if view.episode is None:
            continue
        for name, times in _novelty_firings(view.timeline, healthy, levels).items():
            if any(view.watch_end_ns - MAX_HORIZON_NS <= t < view.watch_end_ns for t in times):
                novel_hits[name] += 1
    names = sorted(novel_hits, key=lambda n: (-novel_hits[n], n))[: MAX_INDICATORS // 2]
    templates: dict[int, str] = {}
    for mode in modes:
        chosen = [
            t
            for t in mode.triggers
            if t.kind == TriggerKind.LOG_PATTERN
            and "template_id" in t.condition
            and t.precision >= 0.5
            and round(t.support * len(mode.evidence.test_runs)) >= MIN_TRIGGER_EPISODES
        ]
        for trigger in chosen[:TEMPLATE_INDICATORS_PER_MODE]:
            template_id = int(trigger.condition["template_id"])
            templates[template_id] = f"tpl:{template_id}"
    names += sorted(set(templates.values()))[: MAX_INDICATORS - len(names)]
    return IndicatorSet(
        names,
        healthy,
        {k: v for k, v in templates.items() if v in names},
        window_s,
        step_s=sampling_step_s(views),
        healthy_levels=dict(levels or {}),
        escalation=levels is not None,
    )


def aftermath_templates(views: Sequence[RunView]) -> set[int]:
    """Templates that appeared only after failures had manifested, never before an onset (or a
    passing run's end): what a failure leaves behind. Live, they are not "new": after one run's
    failure, its aftermath must not warn about the next run."""
    after: set[int] = set()
    before: set[int] = set()
    for view in views:
        for template_id, times in view.timeline.times.items():
            if times[0] < view.watch_end_ns:
                before.add(template_id)
            elif view.episode is not None:
                after.add(template_id)
    return after - before


def failure_gap_s(views: Sequence[RunView]) -> float:
    """How far apart a failure's own lines come while the failure goes on: per failed run, the
    upper quartile of the gaps between its manifestation lines from the onset on; the median of
    those over the runs (0 with fewer than two such lines anywhere).

    Live, a failure is still going on until that long after its last line: a lock fault whose
    "giving up" lines come ten seconds apart, with retry warnings between them, is one failure,
    not a new warning seven seconds into it (a trial's alerts re-opened so)."""
    per_run = []
    for view in views:
        episode = view.episode
        if episode is None or not episode.manifest:
            continue
        times = sorted(
            t
            for template_id in set(episode.manifest)
            for t in view.timeline.times.get(template_id, ())
            if t >= episode.onset_ns
        )
        gaps = sorted(b - a for a, b in itertools.pairwise(times) if b > a)
        if gaps:
            per_run.append(gaps[(len(gaps) * 3) // 4] / 1e9)
    if not per_run:
        return 0.0
    per_run.sort()
    return per_run[len(per_run) // 2]


def evidence_window_s(views: Sequence[RunView]) -> float:
    """How long a precursor stays evidence: twice the typical time from a fault's start (the
    run's first line when the run does not say when its fault started) to its failure, within
    [MIN_WINDOW_S, WINDOW_S].

    A fixed five minutes suits long runs; in a suite of 30 s experiments run back to back it
    would carry one run's warnings into the next run's baseline and alert there.
    """
    delays = sorted(
        (v.watch_end_ns - (v.episode.fault_start_ns or v.timeline.start_ns)) / 1e9
        for v in views
        if v.episode is not None
    )
    if not delays:
        return WINDOW_S
    return min(WINDOW_S, max(MIN_WINDOW_S, 2 * delays[len(delays) // 2]))


def sampling_step_s(views: Sequence[RunView]) -> float:
    """STEP_S, or finer when the typical run is short: every run is seen SAMPLES_PER_RUN times.

    One step for all runs keeps rows uniform in time (the network's output stays a probability
    at a random moment); at a fixed 10 s, a suite of 30 s experiments gave a handful of rows and
    the network learned nothing but its prior.
    """
    lengths = sorted((v.watch_end_ns - v.timeline.start_ns) / 1e9 for v in views)
    if not lengths:
        return STEP_S
    median = lengths[len(lengths) // 2]
    return min(STEP_S, max(MIN_STEP_S, median / SAMPLES_PER_RUN))


def merge_identical(indicators: IndicatorSet, rows: list[dict[str, Any]]) -> IndicatorSet:
    """Indicators with identical training columns become one (the first name), in place in rows.

    Identical columns carry the same information and would make the structure search break ties
    by set order, which is not reproducible between processes.
    """
    groups: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for name in indicators.names:
        groups[tuple(i for i, row in enumerate(rows) if row.get(name))].append(name)
    aliases = {}
    for names in groups.values():
        keep, *rest = sorted(names)
        aliases.update(dict.fromkeys(rest, keep))
    for row in rows:
        for name in aliases:
            row.pop(name, None)
    return IndicatorSet(
        [n for n in indicators.names if n not in aliases],
        indicators.healthy,
        dict(indicators.template_indicators),
        indicators.window_s,
        aliases,
        indicators.step_s,
        metric_thresholds=dict(indicators.metric_thresholds),
        healthy_levels=dict(indicators.healthy_levels),
        escalation=indicators.escalation,
    )


def novelty_names(service: str, severity: int) -> tuple[str, str]:
    """The novelty indicators a new warning/error template fires: its service's and any's."""
    level = "error" if severity >= ERROR_SEVERITY else "warn"
    return f"novel:{service}:{level}", f"novel:{ANY_SERVICE}:{level}"


def past_its_level(levels: Mapping[int, int], template_id: int, severity: int) -> bool:
    """A healthy template's line at a worse `alarm_class` than normal operation gave it."""
    return alarm_class(severity) > levels.get(template_id, 0)


def _novelty_firings(
    timeline: Timeline, healthy: set[int], levels: Mapping[int, int] | None
) -> dict[str, list[int]]:
    fires: dict[str, list[int]] = defaultdict(list)
    for template_id, times in timeline.times.items():
        severity = timeline.severity[template_id]
        if severity >= WARN_SEVERITY and template_id not in healthy:
            for name in novelty_names(timeline.service[template_id], severity):
                fires[name].extend(times)
        elif levels is not None and template_id in healthy:
            for when, level in timeline.alarms.get(template_id, ()):
                if past_its_level(levels, template_id, level):
                    for name in novelty_names(timeline.service[template_id], level):
                        fires[name].append(when)
    return {name: sorted(times) for name, times in fires.items()}


def regap_ns(window_s: float, step_s: float) -> int:
    """How long a signal must pause before firing again is a new incident of it."""
    return max(int(window_s * 1e9 * REGAP_SHARE), int(step_s * 1e9))


def evidence_life_ns(gaps: Sequence[int], window_ns: int, floor_ns: int) -> int:
    """How long a firing stays evidence, given the gaps between this activation's firings before
    it: the window, or for a steady signal SILENT_GAPS of its longest recent gap (at least
    `floor_ns`, at most the window). One definition for training rows and the live predictor."""
    if len(gaps) < STEADY_GAPS:
        return window_ns
    return min(window_ns, max(floor_ns, SILENT_GAPS * max(gaps[-RECENT_GAPS:])))


def _lives(times: Sequence[int], window_ns: int, floor_ns: int) -> list[int]:
    """Each firing's evidence life (`evidence_life_ns`), an activation ending at a regap pause."""
    lives = []
    gaps: list[int] = []
    for i, t in enumerate(times):
        if i and t - times[i - 1] < floor_ns:
            gaps.append(t - times[i - 1])
            del gaps[:-RECENT_GAPS]
        else:
            gaps = []
        lives.append(evidence_life_ns(gaps, window_ns, floor_ns))
    return lives


def _states(view: RunView, indicators: IndicatorSet) -> list[tuple[int, frozenset[str]]]:
    """(moment, active indicators) every `step_s` seconds before the run's onset or end."""
    fires = indicators.firings(view.timeline)
    window_ns = int(indicators.window_s * 1e9)
    step_ns = int(indicators.step_s * 1e9)
    floor_ns = regap_ns(indicators.window_s, indicators.step_s)
    lives = {name: _lives(times, window_ns, floor_ns) for name, times in fires.items()}
    states = []
    t = view.timeline.start_ns + step_ns
    while t < view.watch_end_ns:
        active = frozenset(
            name
            for name, times in fires.items()
            if (i := bisect_right(times, t)) and t - times[i - 1] < lives[name][i - 1]
        )
        states.append((t, active))
        t += step_ns
    return states


def training_rows(
    views: Sequence[RunView],
    indicators: IndicatorSet,
    *,
    horizon_s: float,
    context: Mapping[str, frozenset[str]] | None = None,
) -> list[dict[str, Any]]:
    """One row per moment; `context` adds the run-level variables that hold (test id -> names)."""
    horizon_ns = int(horizon_s * 1e9)
    rows = []
    for view in views:
        mode_id = view.episode.mode if view.episode else None
        fault = view.run.fault_types[0] if view.run.fault_types else NO_FAULT
        held = (context or {}).get(view.run.test_id, frozenset())
        for t, active in _states(view, indicators):
            row: dict[str, Any] = dict.fromkeys(active | held, 1)
            row[FAULT] = fault if t >= view.normal_end_ns and fault != NO_FAULT else NO_FAULT
            if mode_id is not None and 0 < view.watch_end_ns - t <= horizon_ns:
                row[mode_id] = 1
            rows.append(row)
    return rows


def choose_thresholds(
    views: Sequence[RunView], indicators: IndicatorSet, network: ModeNetwork
) -> tuple[float, dict[str, float]]:
    """The alert threshold of each mode, and one for all (`threshold_from_scores`, F0.5 on the
    training runs within the fault-free budget).

    A run's score is what the live predictor could alert on in it: the highest posterior at a
    moment with new evidence (an indicator active that was not a step before). With nothing
    active the predictor never speaks, so the network's prior is no run's score — where most
    training runs fail, the prior alone is high, and a fault-free run scored by it forbade every
    threshold under it; expiry only lowers risk, so a posterior that rises as evidence expires
    is not one either.

    **Per mode**, because modes' posteriors live on different scales: a mode whose precursor a
    harmless fault logs too never gets far above one half, a mode with a clean level indicator
    reaches one. With one threshold for both, F0.5 kept the clean mode's precision and
    silenced the other mode for good (all its failures unwarned, though its precursors came
    before every one). A mode's threshold is chosen on its own failures and on the runs without
    a failure (runs that failed otherwise are another mode's business); the one for all, on
    every run by its likeliest mode, is kept for a mode that no threshold warned of in
    training (nothing to choose its own by)."""
    scores = run_scores(views, indicators, network)
    faulty = [bool(view.run.injected_faults) for view in views]
    modes = [view.episode.mode if view.episode is not None else None for view in views]
    return thresholds_from_scores(scores, modes, faulty, silenced=covered_once(views))


def covered_once(views: Sequence[RunView]) -> frozenset[str]:
    """Modes of one training failure whose injected fault types are those of a mode learned
    from two or more (see NEVER)."""
    episodes: dict[str, list[Episode]] = defaultdict(list)
    for view in views:
        if view.episode is not None:
            episodes[view.episode.mode].append(view.episode)
    causes = {
        mode: frozenset(t for e in found for t in e.fault_types) for mode, found in episodes.items()
    }
    larger = {causes[mode] for mode, found in episodes.items() if len(found) >= 2}
    return frozenset(
        mode
        for mode, found in episodes.items()
        if len(found) == 1 and causes[mode] and causes[mode] in larger
    )


# A cause seen to fail once in a report of its own, while a mode learned from two or more
# failures of the same injected fault already covers it, does not alert on its own: no trigger
# can have preceded two of its failures, so only generic signals point at it, and its alerts
# doubled the larger mode's (a trial: one connection leak reported two ways, two alerts per
# incident, the lone one at p 0.10–0.15). A lone report of a cause no other mode covers still
# alerts (another trial's slow dependency, reported two ways once each, was warned only so).
NEVER = 1.0 + 1e-9  # above any probability


def thresholds_from_scores(
    scores: Sequence[Mapping[str, float]],
    modes: Sequence[str | None],
    faulty: Sequence[bool],
    *,
    silenced: frozenset[str] = frozenset(),
) -> tuple[float, dict[str, float]]:
    """`choose_thresholds` on each run's per-mode scores, the mode it failed with (None: it did
    not fail) and whether it had a fault, in the same order."""
    overall = [
        (max(best.values(), default=0.0), mode is not None, fault)
        for best, mode, fault in zip(scores, modes, faulty, strict=True)
    ]
    for_all = threshold_from_scores(overall, modes)
    per_mode = {}
    for mode_id in sorted({m for m in modes if m is not None}):
        own = [
            (best.get(mode_id, 0.0), mode is not None, fault)
            for best, mode, fault in zip(scores, modes, faulty, strict=True)
            if mode in (None, mode_id)
        ]
        threshold, f_score = _best_threshold(own, [m for m in modes if m in (None, mode_id)])
        # A mode no threshold warned of in training has nothing to choose by: the one for all.
        per_mode[mode_id] = threshold if f_score > 0 else for_all
        if mode_id in silenced:
            per_mode[mode_id] = NEVER
    return for_all, per_mode


def run_scores(
    views: Sequence[RunView], indicators: IndicatorSet, network: ModeNetwork
) -> list[dict[str, float]]:
    """Per run, per mode: the highest posterior at a moment with new evidence."""
    scores = []
    for view in views:
        best: dict[str, float] = {}
        before: frozenset[str] = frozenset()
        for _, active in _states(view, indicators):
            if not active <= before:
                for mode_id, p in network.posterior(active).items():
                    best[mode_id] = max(best.get(mode_id, 0.0), p)
            before = active
        scores.append(best)
    return scores


def alert_leads_s(
    views: Sequence[RunView],
    indicators: IndicatorSet,
    network: ModeNetwork,
    threshold_of: Callable[[str], float],
) -> dict[str, list[float]]:
    """Per mode, how long before each of its training failures the live predictor would have
    alerted: from the first moment with new evidence at which the mode's posterior reached its
    threshold (when, between two samples, the last of the new indicators first fired), to the
    onset (a failure it would not have warned of gives nothing). This is the lead an alert
    quotes; the leads of the mode's triggers count from a template's first line, which a level
    precursor (the same warning past a learned value) can follow by minutes: a trial's disk
    alerts quoted 25 s and came 6 s ahead."""
    leads: dict[str, list[float]] = defaultdict(list)
    for view in views:
        if view.episode is None:
            continue
        mode = view.episode.mode
        fires = indicators.firings(view.timeline)
        before: frozenset[str] = frozenset()
        previous = view.timeline.start_ns
        for t, active in _states(view, indicators):
            if not active <= before and network.posterior(active).get(mode, 0.0) >= threshold_of(
                mode
            ):
                firsts = [
                    next((f for f in fires.get(name, ()) if previous < f <= t), t)
                    for name in active - before
                ]
                leads[mode].append(round((view.watch_end_ns - max(firsts)) / 1e9, 3))
                break
            before, previous = active, t
    return {mode: sorted(found) for mode, found in sorted(leads.items())}


def threshold_from_scores(
    scored: Sequence[tuple[float, bool, bool]], modes: Sequence[str | None]
) -> float:
    """`choose_thresholds` on the runs' scores: (score, failed, had a fault) and each failed
    run's mode, in the same order."""
    return _best_threshold(scored, modes)[0]


def _best_threshold(
    scored: Sequence[tuple[float, bool, bool]], modes: Sequence[str | None]
) -> tuple[float, float]:
    """The threshold and its F0.5 (0.0 when no threshold warns of any failure)."""
    candidates = [round(0.05 * k, 2) for k in range(2, 19)]
    allowed: list[tuple[float, float]] = []
    for threshold in candidates:
        alerted = [(failed, faulty) for score, failed, faulty in scored if score >= threshold]
        fault_free = [s for s in scored if not s[1] and not s[2]]
        false_free = sum(1 for failed, faulty in alerted if not failed and not faulty)
        if fault_free and false_free / len(fault_free) > FAULT_FREE_ALERT_BUDGET:
            continue
        allowed.append((threshold, _f_beta(alerted, sum(1 for s in scored if s[1]), beta=0.5)))
    if not allowed:
        return 0.5, 0.0
    # Equally good thresholds: the middle one keeps a margin on both sides. The highest would sit
    # just under the failing runs' final scores (reached when the failure is already logged) and
    # alert late; the lowest just over the passing runs' scores.
    best_score = max(score for _, score in allowed)
    tied = [threshold for threshold, score in allowed if score == best_score]

    # Of those, the ones that let the most modes warn of their own failures: a mode whose
    # precursors also came in runs that did not fail scores lower than one whose never did,
    # and a tie between "half the failures, no false alarm" and "most failures, one" must not
    # silence it for good.
    def warned_modes(threshold: float) -> int:
        return len(
            {m for (score, _, _), m in zip(scored, modes, strict=True) if m and score >= threshold}
        )

    most = max(warned_modes(t) for t in tied)
    tied = [t for t in tied if warned_modes(t) == most]
    return tied[len(tied) // 2], best_score


def _f_beta(alerted: list[tuple[bool, bool]], positives: int, *, beta: float) -> float:
    true_pos = sum(1 for failed, _ in alerted if failed)
    if not alerted or not positives or not true_pos:
        return 0.0
    precision = true_pos / len(alerted)
    recall = true_pos / positives
    return (1 + beta**2) * precision * recall / (beta**2 * precision + recall)
