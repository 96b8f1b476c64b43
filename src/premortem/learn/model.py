"""Training: test runs, logs, events and simulations in; failure modes and a predictor model out.

>>> model = train([], {})
>>> model.modes
[]
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from premortem.domain import (
    MAX_NS,
    Event,
    FailureMode,
    LogRecord,
    MetricSeries,
    SimulationRun,
    TestRun,
    datetime_to_ns,
    is_fragment,
)
from premortem.learn.catalogue import mitigations_for, rollback_mitigations
from premortem.learn.context import run_contexts
from premortem.learn.episodes import Episode, collect_episodes, fault_start_ns, mode_skeletons
from premortem.learn.merge import merge_modes
from premortem.learn.metric_signals import (
    attach,
    learn_metric_indicators,
    normal_values,
    signals_by_mode,
)
from premortem.learn.network import ModeNetwork
from premortem.learn.onset import (
    AT_FAILURE_NS,
    logged_at_failure,
    place_onset,
    shared_symptoms,
)
from premortem.learn.precursors import (
    MAX_HORIZON_NS,
    RunView,
    best_triggers,
    event_candidates,
    fault_candidates,
    healthy_levels,
    healthy_templates,
    load_candidates,
    log_candidates,
    simulation_candidates,
    spilled_over,
)
from premortem.learn.rows import (
    MAX_INDICATORS,
    IndicatorSet,
    aftermath_templates,
    alert_leads_s,
    choose_thresholds,
    evidence_window_s,
    failure_gap_s,
    indicator_set,
    merge_identical,
    training_rows,
)
from premortem.learn.timeline import Timeline, build_timeline
from premortem.logs import PrefixTreeMiner, TemplateMiner

Feedback = tuple[str, int, str]  # (mode_id, time_ns, "confirmed" | "prevented" | "false_alarm")
STATE_VERSION = 1
RAISES_BY = 0.05  # a signal listed for a mode through the fault variable lifts it this much


@dataclass(slots=True)
class TrainedModel:
    """Everything the online predictor needs; `dumps()`/`loads()` keep it as JSON bytes."""

    modes: list[FailureMode]
    miner: Any
    indicators: IndicatorSet
    network: ModeNetwork
    horizon_s: float = 300.0
    alert_threshold: float = 0.5
    mode_factor: dict[str, float] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    # Templates that are a failure itself (learn/onset.py): seen live, the incident is over.
    manifest_templates: list[int] = field(default_factory=list)
    # Which modes each of those templates is the failure of (a live failure is stored as one).
    manifest_modes: dict[int, list[str]] = field(default_factory=dict)
    # Each learned mode's own alert threshold (rows.choose_thresholds); `alert_threshold` is the
    # one for all, used for a mode without one of its own.
    mode_thresholds: dict[str, float] = field(default_factory=dict)
    # Per mode, how long before its training failures it would have alerted (rows.alert_leads_s):
    # the lead time its predictions quote.
    alert_leads_s: dict[str, list[float]] = field(default_factory=dict)

    def mode(self, mode_id: str) -> FailureMode | None:
        return next((m for m in self.modes if m.id == mode_id), None)

    def threshold_of(self, mode_id: str) -> float:
        """The probability at which a prediction of this mode alerts, as learned."""
        return self.mode_thresholds.get(mode_id, self.alert_threshold)

    @property
    def lowest_threshold(self) -> float:
        """The lowest learned threshold: below it, no prediction of any mode alerts."""
        return min(self.mode_thresholds.values(), default=self.alert_threshold)

    def dumps(self) -> bytes:
        return orjson.dumps(
            {
                "version": STATE_VERSION,
                "modes": [m.model_dump(mode="json") for m in self.modes],
                "miner": self.miner.dumps().decode(),
                "indicators": self.indicators.to_state(),
                "network": self.network.to_state(),
                "horizon_s": self.horizon_s,
                "alert_threshold": self.alert_threshold,
                "mode_factor": self.mode_factor,
                "stats": self.stats,
                "manifest_templates": self.manifest_templates,
                "manifest_modes": {str(k): v for k, v in self.manifest_modes.items()},
                "mode_thresholds": dict(sorted(self.mode_thresholds.items())),
                "alert_leads_s": dict(sorted(self.alert_leads_s.items())),
            }
        )

    @classmethod
    def loads(cls, data: bytes) -> TrainedModel:
        state = orjson.loads(data)
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unknown model state version {state.get('version')!r}")
        return cls(
            modes=[FailureMode.model_validate(m) for m in state["modes"]],
            miner=PrefixTreeMiner.loads(state["miner"].encode()),
            indicators=IndicatorSet.from_state(state["indicators"]),
            network=ModeNetwork.from_state(state["network"]),
            horizon_s=state["horizon_s"],
            alert_threshold=state["alert_threshold"],
            mode_factor=state["mode_factor"],
            stats=state["stats"],
            manifest_templates=list(state.get("manifest_templates", [])),
            manifest_modes={int(k): v for k, v in state.get("manifest_modes", {}).items()},
            # A model stored before modes had thresholds of their own: one for all.
            mode_thresholds={str(k): float(v) for k, v in state.get("mode_thresholds", {}).items()},
            # A model stored before: its predictions quote the leads of the triggers that fired.
            alert_leads_s={
                str(k): [float(x) for x in v] for k, v in state.get("alert_leads_s", {}).items()
            },
        )


LogSource = Mapping[str, Sequence[LogRecord]] | Iterable[LogRecord]


def train(
    test_runs: Sequence[TestRun],
    logs: LogSource,
    events: Sequence[Event] = (),
    simulations: Sequence[SimulationRun] = (),
    *,
    manual_modes: Sequence[FailureMode] = (),
    feedback: Sequence[Feedback] = (),
    horizon_s: float = 300.0,
    miner: TemplateMiner | None = None,
    progress: Callable[[str], None] | None = None,
    series: Mapping[str, Sequence[MetricSeries]] | None = None,
    normal_series: Sequence[MetricSeries] = (),
) -> TrainedModel:
    """Learn failure modes, their triggers and the network from test runs and their logs.

    `logs` maps a test run's id to its records (a lazy mapping is fine: each run is read once),
    or is one iterator of records carrying `attributes["run"]` = test id. `series` maps a test
    run's id to the metric series of its window (learn/metric_signals.py); `normal_series`
    holds samples of normal time outside every run (`runtime.training.series_between_runs`),
    which widen the series' normal ranges only.
    """
    runs = sorted(test_runs, key=lambda r: r.timestamp)
    miner = miner or PrefixTreeMiner(max_templates=20000)
    episodes = {e.source_id: e for e in collect_episodes(runs, events)}
    views = _views(runs, _by_run(logs), episodes, miner, progress, series or {})
    keep_onset_only(views)
    fitted = _fit(views, events, simulations, horizon_s=horizon_s, normal_series=normal_series)
    modes, by_mode, healthy = fitted.modes, fitted.by_mode, fitted.healthy
    indicators, rows, network = fitted.indicators, fitted.rows, fitted.network
    threshold, mode_thresholds = choose_thresholds(views, indicators, network)
    leads = alert_leads_s(
        views, indicators, network, lambda mode_id: mode_thresholds.get(mode_id, threshold)
    )
    indicators.aftermath = aftermath_templates(views)
    indicators.failure_gap_s = failure_gap_s(views)
    factor = feedback_factors(modes, by_mode, feedback)
    _apply_feedback(modes, factor)
    merged = merge_modes(list(manual_modes), list(modes.values()))
    stats = {
        "runs": len(views),
        "episodes": len(episodes),
        # How each failed run's onset was placed: a run whose details read like no line of its
        # logs ("new error", "last line") is worth a look (docs/correlation.md).
        "onsets": _onset_rules(views),
        "healthy_templates": len(healthy),
        # metric samples of normal time between the runs, in the series' normal ranges
        "samples_between_runs": sum(len(s.points) for s in normal_series),
        "rows": len(rows),
        "edges": network.edges_,
        "signals": signals_by_mode(
            network.edges_,
            indicators.metric_thresholds,
            _template_texts(miner),
            network.modes,
            raises=lambda indicator, mode_id: _raises(network, indicator, mode_id),
        ),
    }
    manifest_modes: dict[int, set[str]] = defaultdict(set)
    for view in views:
        if view.episode is not None:
            for template_id in set(view.episode.manifest) - fitted.healthy:
                manifest_modes[template_id].add(view.episode.mode)
    _describe_failure_templates(merged, manifest_modes, miner)
    return TrainedModel(
        merged,
        miner,
        indicators,
        network,
        horizon_s,
        threshold,
        factor,
        stats,
        sorted(manifest_modes),
        {t: sorted(modes) for t, modes in sorted(manifest_modes.items())},
        mode_thresholds,
        leads,
    )


def _raises(network: ModeNetwork, indicator: str, mode_id: str) -> bool:
    """Whether the indicator alone makes the mode likelier than nothing active does."""
    alone = network.posterior(frozenset({indicator})).get(mode_id, 0.0)
    return alone > network.posterior(frozenset()).get(mode_id, 0.0) + RAISES_BY


def _onset_rules(views: Sequence[RunView]) -> dict[str, list[str]]:
    """Failed runs by how their onset was placed (at most 20 ids each)."""
    by_rule: dict[str, list[str]] = defaultdict(list)
    for view in views:
        if view.episode is not None and view.episode.onset_rule:
            by_rule[view.episode.onset_rule].append(view.run.test_id)
    return {rule: ids[:20] for rule, ids in sorted(by_rule.items())}


def _template_texts(miner: Any) -> Callable[[int], str]:
    texts: dict[int, str] = {}

    def text(template_id: int) -> str:
        if not texts:  # read once, and only when a level is a precursor
            texts.update({t.id: t.template for t in miner.templates()})
        return texts.get(template_id, f"template {template_id}")

    return text


def _describe_failure_templates(
    modes: Sequence[FailureMode], manifest_modes: Mapping[int, set[str]], miner: Any
) -> None:
    """Each learned mode's document lists the templates premortem takes live for the failure
    itself (`manifestation.failure_templates`, "service: template"): what ends an incident and is
    stored as a failure seen live. The mode key's own templates (`manifest_templates`) are often
    empty, which read as if the model knew no failure line."""
    texts = {t.id: f"{t.service}: {t.template}" for t in miner.templates()}
    by_mode: dict[str, list[str]] = defaultdict(list)
    for template_id, mode_ids in sorted(manifest_modes.items()):
        for mode_id in sorted(mode_ids):
            if template_id in texts:
                by_mode[mode_id].append(texts[template_id][:300])
    for mode in modes:
        if mode.id in by_mode:
            mode.manifestation["failure_templates"] = by_mode[mode.id]


@dataclass(slots=True)
class _Fitted:
    modes: dict[str, FailureMode]
    by_mode: dict[str, list[RunView]]
    healthy: set[int]
    indicators: IndicatorSet
    rows: list[dict[str, Any]]
    network: ModeNetwork


def _fit(
    views: Sequence[RunView],
    events: Sequence[Event],
    simulations: Sequence[SimulationRun],
    *,
    horizon_s: float,
    normal_series: Sequence[MetricSeries] = (),
) -> _Fitted:
    """Modes, their triggers, the indicators and the network from the runs' timelines."""
    healthy = healthy_templates(views)
    # Modes in onset order: the network's column order steers the structure search's tie-breaks.
    episodes = sorted((v.episode for v in views if v.episode is not None), key=lambda e: e.onset_ns)
    modes = mode_skeletons(episodes)
    by_mode: dict[str, list[RunView]] = defaultdict(list)
    for view in views:
        if view.episode is not None:
            by_mode[view.episode.mode].append(view)
    for mode in modes.values():
        _learn_mode(mode, by_mode[mode.id], list(views), healthy, events, simulations)
    indicators = _with_metrics(
        indicator_set(
            views,
            healthy,
            list(modes.values()),
            window_s=evidence_window_s(views),
            levels=healthy_levels(views),
        ),
        views,
        normal_series,
    )
    rows = training_rows(views, indicators, horizon_s=horizon_s)
    indicators = merge_identical(indicators, rows)
    contexts = run_contexts([v.run for v in views], list(modes.values()), simulations)
    if contexts:
        rows = training_rows(views, indicators, horizon_s=horizon_s, context=contexts)
    context = sorted({name for held in contexts.values() for name in held})
    network = ModeNetwork([*indicators.names, *context], list(modes)).fit(rows)
    for mode in modes.values():
        # Runs that name no service: the mode (its alerts' `service` label) is the service
        # whose lines were the failure, as docs/alerting.md says.
        if not mode.service:
            mode.service = _failing_service(by_mode[mode.id])
    return _Fitted(modes, dict(by_mode), healthy, indicators, rows, network)


def _failing_service(views: Sequence[RunView]) -> str:
    """The service that logged the failure in most of a mode's runs (ties: the first seen)."""
    services = [
        v.episode.manifest_services[0] for v in views if v.episode and v.episode.manifest_services
    ]
    counts = Counter(s for s in services if s)
    return max(counts, key=lambda s: (counts[s], -services.index(s))) if counts else ""


def _with_metrics(
    indicators: IndicatorSet, views: Sequence[RunView], normal_series: Sequence[MetricSeries]
) -> IndicatorSet:
    """The log indicators plus the metric series and warning-line levels that rose before
    failures, as room allows."""
    learned = list(learn_metric_indicators(views, outside=normal_values(normal_series)).items())
    learned += learn_metric_indicators(views, levels=True).items()
    learned = learned[: max(MAX_INDICATORS - len(indicators.names), 0)]
    if not learned:
        return indicators
    return replace(
        indicators,
        names=indicators.names + [name for name, _ in learned],
        metric_thresholds={name: (t.series_id, t.above) for name, t in learned},
    )


def _by_run(logs: LogSource) -> Mapping[str, Sequence[LogRecord]]:
    if isinstance(logs, Mapping):
        return logs
    grouped: dict[str, list[LogRecord]] = defaultdict(list)
    for record in logs:
        grouped[str(record.attributes.get("run", ""))].append(record)
    return grouped


def _views(
    runs: Sequence[TestRun],
    logs: Mapping[str, Sequence[LogRecord]],
    episodes: Mapping[str, Episode],
    miner: TemplateMiner,
    progress: Callable[[str], None] | None,
    series: Mapping[str, Sequence[MetricSeries]],
) -> list[RunView]:
    timelines = []
    for run in runs:
        records = (r for r in logs.get(run.test_id, ()) if not is_fragment(r))
        timeline = build_timeline(run.test_id, records, miner)
        attach(timeline, series.get(run.test_id, ()), 0, MAX_NS)
        if progress is not None:
            progress(run.test_id)
        if timeline.times:
            timelines.append((run, timeline))
    spills = _spills(timelines)
    # Normal operation known before any onset is placed: passing runs, and every run's part
    # before its fault started. Onsets found in the logs are judged against it.
    normal = [
        RunView(
            run,
            timeline,
            _normal_end(run, timeline, None),
            timeline.end_ns + 1,
            spill=spills[run.test_id],
        )
        for run, timeline in timelines
        if run.test_id not in episodes or fault_start_ns(run) is not None
    ]
    known_healthy = healthy_templates(normal)
    symptoms = shared_symptoms(
        [(r, t, episodes[r.test_id].details) for r, t in timelines if r.test_id in episodes],
        healthy=known_healthy,
        passed=[t for r, t in timelines if r.test_id not in episodes],
    )
    views = []
    for run, timeline in timelines:
        episode = episodes.get(run.test_id)
        if episode is not None:
            _place_onset(episode, run, timeline, known_healthy, symptoms)
        watch_end = episode.onset_ns if episode else timeline.end_ns + 1
        views.append(
            RunView(
                run,
                timeline,
                min(_normal_end(run, timeline, episode), watch_end),
                watch_end,
                episode,
                spills[run.test_id],
            )
        )
    return views


def _spills(timelines: Sequence[tuple[TestRun, Timeline]]) -> dict[str, dict[int, int]]:
    """Each run's first lines that are the run before's tail (`spilled_over`), runs in time
    order."""
    ordered = sorted(
        timelines, key=lambda pair: (datetime_to_ns(pair[0].timestamp), pair[0].test_id)
    )
    spills: dict[str, dict[int, int]] = {}
    previous: tuple[Timeline, int | None] | None = None
    for run, timeline in ordered:
        # Only a fault with a start says which of the run before's lines came with it.
        fault_ns = previous[1] if previous is not None else None
        spills[run.test_id] = (
            spilled_over(previous[0], fault_ns, datetime_to_ns(run.timestamp), timeline)
            if previous is not None and fault_ns is not None
            else {}
        )
        previous = (timeline, fault_start_ns(run))
    return spills


def keep_onset_only(views: Sequence[RunView]) -> None:
    """Onset-only templates are manifestations (issue 11), so a template taken as one only
    because its first line fell at a run's `failure_time` stops being one when, in some run,
    it came more than a second before the onset (or in a passing run): there it was logged
    while the system still worked, a warning rather than the failure. Otherwise, live, its early
    appearance in a new incident would read as the failure itself and end the incident in
    silence. Templates that read like the failure details stay manifestations wherever they
    appear: a test often notices a failure (its `failure_time`) after it began logging."""
    early: set[int] = set()
    for view in views:
        cutoff = view.watch_end_ns - AT_FAILURE_NS
        early.update(t for t, first in view.own_firsts() if first < cutoff)
    for view in views:
        episode = view.episode
        if episode is not None and episode.at_failure:
            dropped = early.intersection(episode.at_failure)
            episode.manifest = tuple(t for t in episode.manifest if t not in dropped)


def _normal_end(run: TestRun, timeline: Timeline, episode: Episode | None) -> int:
    """Where a run's normal operation ends: its fault's start; a failed run without a fault
    is watched for precursors from the longest horizon before its onset."""
    start = fault_start_ns(run)
    if start is not None:
        return start
    if run.injected_faults:
        return timeline.start_ns
    if episode is not None:
        return episode.onset_ns - MAX_HORIZON_NS
    return timeline.end_ns + 1


def _place_onset(
    episode: Episode,
    run: TestRun,
    timeline: Timeline,
    healthy: set[int],
    symptoms: frozenset[int] = frozenset(),
) -> None:
    """The failure's own templates, and its onset when the run did not say (learn/onset.py)."""
    manifest, onset = place_onset(
        timeline,
        episode.details,
        fault_start_ns=episode.fault_start_ns,
        healthy=healthy,
        symptoms=symptoms,
    )
    # The failure's time: the run's word for it, else the first new error after the fault when
    # no line reads like the details (a probe's "the event is locked; try again" is in no log).
    # New error templates first logged then are the failure logging itself.
    failure_ns = (
        datetime_to_ns(run.failure_time)
        if run.failure_time is not None
        else (onset if not manifest else None)
    )
    if failure_ns is not None:
        at = logged_at_failure(timeline, failure_ns, healthy=healthy)
        episode.at_failure = tuple(t for t in at if t not in manifest)
        manifest += episode.at_failure
    episode.manifest = tuple(manifest)
    episode.manifest_lines = tuple(timeline.samples[t].line for t in manifest[:5])
    episode.manifest_services = tuple(timeline.samples[t].service for t in manifest[:5])
    if run.failure_time is None:
        episode.onset_ns = onset
    episode.onset_rule = (
        "failure_time"
        if run.failure_time is not None
        else "details"
        if failure_ns is None
        else "shared error"
        if symptoms.intersection(episode.at_failure)
        else "new error"
        if onset < timeline.end_ns
        else "last line"
    )


def _learn_mode(
    mode: FailureMode,
    episodes: list[RunView],
    views: list[RunView],
    healthy: set[int],
    events: Sequence[Event],
    simulations: Sequence[SimulationRun],
) -> None:
    candidates = (
        log_candidates(episodes, views, healthy)
        + fault_candidates(episodes, views)
        + load_candidates(episodes, views)
        + event_candidates(episodes, views, events)
        + simulation_candidates(mode.service, len(episodes), simulations)
    )
    base_rate = len(episodes) / max(len(views), 1)
    mode.triggers = best_triggers(mode.id, candidates, base_rate=base_rate)
    faults = sorted({f for v in episodes for f in v.run.fault_types})
    mode.mitigations = mitigations_for(
        mode.id,
        fault_types=faults,
        trigger_kinds={t.kind for t in mode.triggers},
        trigger_texts=[t.description for t in mode.triggers],
        description=mode.description,
        failure_lines=sorted(
            {ln for v in episodes if v.episode for ln in v.episode.manifest_lines}
        ),
    ) + rollback_mitigations(
        mode.id, [s for v in episodes if v.episode for s in v.episode.rollbacks]
    )
    mode.evidence.log_excerpts = _excerpts(episodes, mode)


def _excerpts(episodes: list[RunView], mode: FailureMode) -> list[dict[str, Any]]:
    excerpts = []
    wanted = {
        int(t.condition["template_id"]) for t in mode.triggers if "template_id" in t.condition
    }
    for view in episodes:
        for template_id in sorted(wanted & set(view.timeline.samples)):
            sample = view.timeline.samples[template_id]
            excerpts.append(
                {
                    "test_run": view.run.test_id,
                    "record_id": sample.record_id,
                    "service": sample.service,
                    "template_id": template_id,
                    "line": sample.line[:300],
                }
            )
    return excerpts[:20]


def feedback_factors(
    modes: Mapping[str, FailureMode],
    by_mode: Mapping[str, list[RunView]],
    feedback: Sequence[Feedback],
) -> dict[str, float]:
    """Per mode, the share of its alerts that were right (false alarms lower it; prevented and
    confirmed alerts count as right)."""
    right: dict[str, int] = defaultdict(int)
    wrong: dict[str, int] = defaultdict(int)
    for mode_id, _, verdict in feedback:
        if verdict == "false_alarm":
            wrong[mode_id] += 1
        elif verdict in ("confirmed", "prevented"):
            right[mode_id] += 1
    factors = {}
    for mode_id in modes:
        hits = len(by_mode.get(mode_id, ())) + right[mode_id]
        factors[mode_id] = hits / (hits + wrong[mode_id]) if hits + wrong[mode_id] else 1.0
    return factors


def _apply_feedback(modes: Mapping[str, FailureMode], factor: Mapping[str, float]) -> None:
    for mode_id, mode in modes.items():
        for trigger in mode.triggers:
            trigger.precision = round(trigger.precision * factor.get(mode_id, 1.0), 4)


def run_onset_ns(run: TestRun) -> int:
    return datetime_to_ns(run.onset)
