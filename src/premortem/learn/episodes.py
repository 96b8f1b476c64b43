"""Failure episodes and their grouping into failure modes.

An episode is one manifestation of a failure: a test run whose actual outcome differs from the
expected one (onset = its failure time, else its timestamp) or an incident/failure event. Episodes
with the same failure-details template, the same manifest templates and the same service are one
failure mode, whose id is derived from that key (`stable_id`) so retraining finds it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from premortem.domain import (
    Event,
    FailureMode,
    TestRun,
    datetime_to_ns,
    outcome_text,
    stable_id,
)
from premortem.learn import naming
from premortem.logs.masking import mask

# Event types that mark a failure that happened (rather than a change that might cause one).
FAILURE_EVENT_TYPES = frozenset({"incident", "failure", "outage", "alert.failure"})


@dataclass(frozen=True, slots=True)
class ModeKey:
    service: str
    details_template: str
    manifest_templates: tuple[str, ...] = ()

    @property
    def mode_id(self) -> str:
        return (
            "fm-"
            + stable_id(
                "failure-mode", self.service, self.details_template, list(self.manifest_templates)
            )[:16]
        )


@dataclass(slots=True)
class Episode:
    """One failure: where it came from, when it manifested and which mode it belongs to."""

    source_id: str
    onset_ns: int
    key: ModeKey
    details: str
    fault_types: tuple[str, ...] = ()
    fault_start_ns: int | None = None
    run: TestRun | None = None
    rollbacks: list[str] = field(default_factory=list)
    # Templates of the run that are the failure itself (see learn/onset.py), and a line of each.
    manifest: tuple[int, ...] = ()
    manifest_lines: tuple[str, ...] = ()
    manifest_services: tuple[str, ...] = ()  # the service that logged each of those lines
    # Of those, the ones taken only because their first line is at the run's `failure_time`.
    at_failure: tuple[int, ...] = ()
    # The failure mode it belongs to (`assign_modes`): its key's, or that of the first failure
    # reported differently that names the same thing broken.
    mode_id: str = ""
    # How its onset was placed (learn/onset.py): "failure_time", "details" (a line read like
    # them), "new error" (none did: the first new error after the fault), "last line".
    onset_rule: str = ""
    # The injected fault that tells it from failures reported alike (`tell_alike_reports_apart`).
    cause: str = ""

    @property
    def mode(self) -> str:
        return self.mode_id or self.key.mode_id


# A mode told apart from failures reported alike only by the fault that caused it.
FAULT_CAUSE = "caused by "
MIN_SPLIT = 2  # failures a group needs to become a mode of its own (as a trigger needs)


def details_template(details: str) -> str:
    """Failure details with variables masked, whitespace collapsed and bounded in length."""
    return " ".join(mask(details).split())[:300]


def episode_from_run(run: TestRun, *, manifest: Sequence[str] = ()) -> Episode | None:
    """The episode of a failed test run, or None when the run passed."""
    if not run.failed:
        return None
    details = outcome_text(run.failure_details) or outcome_text(run.actual_outcome) or "failed"
    # An experiment's title (Chaos Toolkit's, kept in the document) is part of how the failure
    # was reported: one steady-state probe ("no delivery failures") reports every experiment's
    # failure alike. Reports of different experiments that name the same thing broken are still
    # one mode (`assign_modes`).
    title = (run.model_extra or {}).get("title")
    title = title.strip() if isinstance(title, str) else ""
    reported = f"{title}: {details}" if title else details
    key = ModeKey(run.service or "", details_template(reported), tuple(sorted(manifest)))
    return Episode(
        source_id=run.test_id,
        onset_ns=datetime_to_ns(run.onset),
        key=key,
        details=details,
        fault_types=tuple(run.fault_types),
        fault_start_ns=fault_start_ns(run),
        run=run,
        rollbacks=rollback_steps(run),
    )


def episode_from_event(event: Event) -> Episode | None:
    """The episode of an incident/failure event, or None for any other event."""
    if event.type.lower() not in FAILURE_EVENT_TYPES:
        return None
    details = event.subject or str(event.attributes.get("summary", event.type))
    key = ModeKey(event.service, details_template(details))
    return Episode(source_id=event.id, onset_ns=event.time_ns, key=key, details=details)


def fault_start_ns(run: TestRun) -> int | None:
    """When the first injected fault started (absolute, or seconds after the run's start)."""
    starts = []
    for fault in run.injected_faults:
        if fault.start is None:
            continue
        if isinstance(fault.start, int | float):
            starts.append(datetime_to_ns(run.timestamp) + int(fault.start * 1e9))
        else:
            starts.append(datetime_to_ns(fault.start))
    return min(starts) if starts else None


def scored_fault_ns(run: TestRun) -> int | None:
    """When a run's fault started, for the scorer: `fault_start_ns`, or the run's start for a
    fault no one timed (a Litmus ChaosResult names its experiment, not when it injected), as
    training takes it (its normal operation ends there); None for a run without a fault."""
    start = fault_start_ns(run)
    if start is None and run.injected_faults:
        return datetime_to_ns(run.timestamp)
    return start


def rollback_steps(run: TestRun) -> list[str]:
    """The `rollbacks` extra key of a chaos test run, as readable action texts."""
    extra = (run.model_extra or {}).get("rollbacks") or []
    steps = []
    for item in extra if isinstance(extra, list) else [extra]:
        if isinstance(item, dict):
            text = item.get("name") or item.get("action") or outcome_text(item)
        else:
            text = str(item)
        if text:
            steps.append(str(text))
    return steps


def collect_episodes(runs: Iterable[TestRun], events: Iterable[Event] = ()) -> list[Episode]:
    episodes = [e for e in map(episode_from_run, runs) if e is not None]
    episodes += [e for e in map(episode_from_event, events) if e is not None]
    return sorted(episodes, key=lambda e: e.onset_ns)


def assign_modes(episodes: Sequence[Episode]) -> dict[str, tuple[str, list[str]]]:
    """One failure mode per thing broken: failures reported differently (`ModeKey`) whose names
    say the same thing broke are one mode — two ways of running out of memory (an allocation
    that failed, a worker the OOM killer restarted) share their precursors, their mitigations and
    the evidence that trains them. A mode keeps the id of its earliest failure's key, so adding
    later failures never renames it. Sets each episode's `mode_id`; returns mode id -> (its
    name, the key ids of every report it holds).
    """
    names: dict[str, str] = {}  # key id -> name (from the key's first episode)
    first: dict[str, str] = {}  # name -> mode id
    for episode in sorted(episodes, key=_earliest):
        key_id = episode.key.mode_id
        if key_id not in names:
            names[key_id] = mode_name(
                episode.key, details=episode.details, manifest_lines=episode.manifest_lines
            ) + (f" {FAULT_CAUSE}{episode.cause}" if episode.cause else "")
        episode.mode_id = first.setdefault(names[key_id], key_id)
    return {
        mode_id: (name, sorted(k for k, n in names.items() if n == name))
        for name, mode_id in first.items()
    }


def tell_alike_reports_apart(episodes: Sequence[Episode]) -> None:
    """Failures reported alike whose causes differ are different modes.

    First by the faults the runs injected, the user's own word for the cause: where a report's
    failures fall into groups of at least MIN_SPLIT by fault type, each group is a mode, named
    with its cause ("… caused by cpu_hog"). A gateway logged the same "request failed upstream"
    after a full disk and after a starved worker (a trial): one mode of both had the disk's
    precursors as parents and never warned of the starvation; in another, three faults split by
    their lines into two groups that named alike and merged again, and no alert said what broke.

    Else by their own lines: a load generator reports every failure as the same HTTP 504; the
    service's logs said "timed out waiting in queue" for one fault and "downstream call still
    running" for another (a trial). The failures of one report are grouped by the manifestation
    templates they share; where two groups of at least MIN_SPLIT failures share none, each later
    group's key adds its masked failure lines (and so its own id).

    Either way the earliest group keeps the report's key, so a mode learned before keeps its id;
    a failure in a smaller group, or without what the split goes by (a fault, a manifestation),
    stays with the earliest group."""
    by_key: dict[ModeKey, list[Episode]] = {}
    for episode in sorted(episodes, key=_earliest):
        by_key.setdefault(episode.key, []).append(episode)
    for key, alike in by_key.items():
        faults = [g for g in _fault_groups(alike) if len(g) >= MIN_SPLIT]
        if len(faults) >= 2:
            for n, group in enumerate(faults):
                cause = ", ".join(sorted(set(group[0].fault_types)))
                for episode in group:
                    episode.cause = cause
                    if n:
                        episode.key = ModeKey(
                            key.service, key.details_template, (FAULT_CAUSE + cause,)
                        )
            continue
        groups = [g for g in _sharing_groups(alike) if len(g) >= MIN_SPLIT]
        for group in groups[1:] if len(groups) >= 2 else ():
            lines = sorted({details_template(line) for e in group for line in e.manifest_lines})
            for episode in group:
                episode.key = ModeKey(key.service, key.details_template, tuple(lines))


def _fault_groups(episodes: Sequence[Episode]) -> list[list[Episode]]:
    """The episodes with injected faults grouped by their fault types, earliest group first."""
    groups: dict[tuple[str, ...], list[Episode]] = {}
    for episode in episodes:
        if episode.fault_types:
            groups.setdefault(tuple(sorted(set(episode.fault_types))), []).append(episode)
    return list(groups.values())


def _sharing_groups(episodes: Sequence[Episode]) -> list[list[Episode]]:
    """The episodes (in order) grouped by shared manifestation templates, each group in the
    order of its earliest episode; an episode without any is a group of its own."""
    groups: list[tuple[set[int], list[Episode]]] = []
    for episode in episodes:
        own = set(episode.manifest)
        joined = [g for g in groups if own & g[0]]
        if not joined:
            groups.append((own, [episode]))
            continue
        keep, *rest = joined
        keep[0].update(own)
        keep[1].append(episode)
        for other in rest:
            keep[0].update(other[0])
            keep[1].extend(other[1])
            groups.remove(other)
    return [sorted(members, key=_earliest) for _, members in groups]


def _earliest(episode: Episode) -> tuple[int, str]:
    return episode.onset_ns, episode.source_id


def mode_skeletons(episodes: Sequence[Episode]) -> dict[str, FailureMode]:
    """One failure mode per thing broken (`assign_modes`), with a readable name and the
    episodes as evidence. Failures reported alike are first told apart by the faults that
    caused them, else by their own lines (`tell_alike_reports_apart`)."""
    tell_alike_reports_apart(episodes)
    assigned = assign_modes(episodes)
    modes: dict[str, FailureMode] = {}
    for episode in sorted(episodes, key=_earliest):
        mode = modes.get(episode.mode)
        if mode is None:
            name, reported_as = assigned[episode.mode]
            mode = modes[episode.mode] = FailureMode(
                id=episode.mode,
                name=name,
                description=f"Learned from failures like: {episode.details[:200]}",
                severity="critical",
                service=episode.key.service,
                manifestation={
                    "failure_details_template": episode.key.details_template,
                    "manifest_templates": [
                        t for t in episode.key.manifest_templates if not t.startswith(FAULT_CAUSE)
                    ],
                    # The injected fault that tells it from failures reported alike.
                    **({"cause": episode.cause} if episode.cause else {}),
                    "example": episode.details[:500],
                    # What the failure looked like in the logs (learn/onset.py).
                    "failure_lines": [line[:300] for line in episode.manifest_lines],
                    # Every way this failure was reported (key ids): backtests map a replayed
                    # run's report to its mode with it.
                    "reported_as": reported_as,
                },
            )
        if episode.run is not None:
            mode.evidence.test_runs.append(episode.source_id)
    return modes


def mode_name(
    key: ModeKey,
    *,
    details: str | None = None,
    manifest_lines: Sequence[str] | None = None,
    precursor_lines: Sequence[str] = (),
) -> str:
    """A short readable name of what broke (`premortem.learn.naming`): the raw details and the
    onset's own lines when known, else the key's masked templates."""
    return naming.mode_name(
        key.service,
        key.details_template if details is None else details,
        key.manifest_templates if manifest_lines is None else manifest_lines,
        precursor_lines,
    )
