"""When did a failed run's failure manifest, and which of its log lines were the failure itself?

A test run may say when its failure happened (`failure_time`). When it does not, the onset is
found in the run's own logs, never taken as the run's start:

1. the first line, after the fault started, whose template reads like the run's
   `failure_details` (they share a phrase of three words, or most of the template's words
   appear in the details), else
2. the first new error after the fault started: an error template never seen in normal
   operation — preferring a *shared symptom*, a new error that failed runs of other fault types
   logged too and no passing run did (every kind of fault ends in the same "could not enqueue
   order" the probe saw, while a lock timeout 29 s before it, only in the lock runs, is that
   kind's cause; a rollback's errors, in harmless runs too, are nobody's failure), else
3. the run's last line (the failure was seen by the test, not in the logs).

The templates that read like the failure details are the failure's *manifestation*: they are
the failure, not a warning of it, so they are never learned as its precursors. When some of them
are logged as errors, only those are: a warning that shares the details' words is then a warning
of the failure (a dead-letter queue growing before "dead-letter queue over limit").
When the run gave `failure_time` — or, when no template reads like the details, at the onset
found by rule 2 — so are the new error templates whose first line is logged at that time (within
a second): the failure logging itself, whatever words it uses — unless, in another training
run, the same template came before the onset: then it is a warning
(`learn.model.keep_onset_only`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence

from premortem.domain import (
    ERROR_SEVERITY,
    WARN_SEVERITY,
    LogRecord,
    TestRun,
    datetime_to_ns,
    outcome_text,
)
from premortem.learn.episodes import fault_start_ns
from premortem.learn.timeline import Timeline, build_timeline
from premortem.logs import TemplateMiner

_WORD = re.compile(r"[a-z][a-z_]{2,}")
# Words that say nothing about what failed (masking placeholders, test-report boilerplate).
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "from",
        "that",
        "this",
        "was",
        "were",
        "has",
        "have",
        "had",
        "not",
        "but",
        "are",
        "into",
        "after",
        "before",
        "num",
        "hex",
        "uuid",
        "ip",
        "path",
        "id",
        "ids",
        "url",
    ]
)
MIN_SHARED_WORDS = 2
MIN_COVERAGE = 0.6
PHRASE_WORDS = 3
AT_FAILURE_NS = 1_000_000_000  # a line this close to a given failure_time is the failure's


def words(text: str) -> list[str]:
    """The content words of a text, in order."""
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def reads_like(template: str, details: Sequence[str]) -> bool:
    """The template says what the failure details say: it shares a phrase of PHRASE_WORDS
    consecutive words with them, or most of its words (MIN_COVERAGE, at least two) appear."""
    own = words(template)
    if _phrases(own) & _phrases(details):
        return True
    shared = set(own) & set(details)
    return len(shared) >= MIN_SHARED_WORDS and len(shared) >= MIN_COVERAGE * len(set(own))


def _phrases(sequence: Sequence[str]) -> set[tuple[str, ...]]:
    return {tuple(sequence[i : i + PHRASE_WORDS]) for i in range(len(sequence) - PHRASE_WORDS + 1)}


def manifest_templates(
    timeline: Timeline, details: str, *, since_ns: int, healthy: set[int]
) -> list[int]:
    """Templates of the run (logged at or after `since_ns`, at warning level or above, or new)
    that read like the failure details, in order of first appearance. A line that healthy
    operation logs at INFO is not the failure, whatever words it shares with the details (an
    app's "order N settled in N ms" against a probe's "order not settled within 3 s")."""
    details_words = words(details)
    if len(details_words) < MIN_SHARED_WORDS:
        return []
    found = []
    for template_id, times in timeline.times.items():
        if times[-1] < since_ns:
            continue
        if timeline.severity[template_id] < WARN_SEVERITY and template_id in healthy:
            continue
        text = timeline.templates.get(template_id) or timeline.samples[template_id].line
        if not reads_like(text, details_words):
            continue
        first = timeline.first_in(template_id, since_ns, timeline.end_ns + 1)
        if first is not None:
            found.append((first, template_id))
    # When the failure is logged as an error, a warning that speaks of the same thing warned of
    # it ("message moved to dead-letter queue" before "payment rejected: dead-letter queue over
    # limit"): it is a precursor, not the failure, and its first line is not the onset.
    if any(timeline.severity[t] >= ERROR_SEVERITY for _, t in found):
        found = [(first, t) for first, t in found if timeline.severity[t] >= ERROR_SEVERITY]
    return [template_id for _, template_id in sorted(found)]


def logged_at_failure(
    timeline: Timeline, failure_ns: int, *, healthy: set[int], tolerance_ns: int = AT_FAILURE_NS
) -> list[int]:
    """New error templates whose first line in the run is at the failure time the run gave
    (within `tolerance_ns`): the failure logging itself, whatever words it uses."""
    found = []
    for template_id, times in timeline.times.items():
        if timeline.severity[template_id] < ERROR_SEVERITY or template_id in healthy:
            continue
        if abs(times[0] - failure_ns) <= tolerance_ns:
            found.append((times[0], template_id))
    return [template_id for _, template_id in sorted(found)]


def new_errors(timeline: Timeline, *, healthy: set[int], since_ns: int) -> dict[int, int]:
    """Error templates never seen in normal operation, with their first line at or after
    `since_ns` (rule 2's candidates)."""
    until = timeline.end_ns + 1
    return {
        template_id: when
        for template_id, severity in timeline.severity.items()
        if severity >= ERROR_SEVERITY and template_id not in healthy
        if (when := timeline.first_in(template_id, since_ns, until)) is not None
    }


def shared_symptoms(
    failed: Sequence[tuple[TestRun, Timeline, str]],
    *,
    healthy: set[int],
    passed: Sequence[Timeline] = (),
) -> frozenset[int]:
    """The new errors that failed runs of two or more fault types logged after their faults —
    runs without `failure_time` whose details no line reads like, where rule 2 places the onset:
    the failure the test saw, not one kind's cause before it — and no passing run logged (a
    rollback's own errors, "terminating connection due to administrator command", come in
    harmless runs too: they are every kind's aftermath, not its failure). `failed`: (run, its
    timeline, its failure details); `passed`: the timelines of the runs that passed."""
    kinds: dict[int, set[str]] = {}
    for run, timeline, details in failed:
        if run.failure_time is not None or not run.fault_types:
            continue
        start = fault_start_ns(run)
        since = start if start is not None else timeline.start_ns
        if manifest_templates(timeline, details, since_ns=since, healthy=healthy):
            continue
        for template_id in new_errors(timeline, healthy=healthy, since_ns=since):
            kinds.setdefault(template_id, set()).update(run.fault_types)
    in_passing = {t for timeline in passed for t in timeline.times}
    return frozenset(t for t, types in kinds.items() if len(types) >= 2 and t not in in_passing)


def detect_onset_ns(
    timeline: Timeline,
    *,
    manifest: list[int],
    healthy: set[int],
    since_ns: int,
    symptoms: frozenset[int] = frozenset(),
) -> int:
    """The onset of a failed run without `failure_time` (see the module docstring);
    `symptoms`: the new errors failed runs of several fault types shared."""
    until = timeline.end_ns + 1
    firsts = [
        when
        for template_id in manifest
        if (when := timeline.first_in(template_id, since_ns, until)) is not None
    ]
    if firsts:
        return min(firsts)
    errors = new_errors(timeline, healthy=healthy, since_ns=since_ns)
    shared = [when for template_id, when in errors.items() if template_id in symptoms]
    return min(shared or errors.values(), default=timeline.end_ns)


def place_onset(
    timeline: Timeline,
    details: str,
    *,
    fault_start_ns: int | None,
    healthy: set[int],
    symptoms: frozenset[int] = frozenset(),
) -> tuple[list[int], int]:
    """A failed run's manifestation templates and the onset found in its logs (the caller keeps
    `failure_time` instead when the run gave one)."""
    since = fault_start_ns if fault_start_ns is not None else timeline.start_ns
    manifest = manifest_templates(timeline, details, since_ns=since, healthy=healthy)
    onset = detect_onset_ns(
        timeline, manifest=manifest, healthy=healthy, since_ns=since, symptoms=symptoms
    )
    return manifest, onset


def onset_in_records(
    run: TestRun, records: Sequence[LogRecord], *, miner: TemplateMiner, healthy: set[int]
) -> int | None:
    """A failed run's onset as training would place it: `failure_time`, else found in
    `records` (its logs) with a trained model's miner and healthy templates; None if it passed.

    Backtests use it to score runs that never said when they failed, by the same rule."""
    if not run.failed:
        return None
    if run.failure_time is not None:
        return datetime_to_ns(run.failure_time)
    timeline = build_timeline(run.test_id, records, copy.deepcopy(miner))
    if not timeline.times:
        return datetime_to_ns(run.timestamp)
    details = outcome_text(run.failure_details) or outcome_text(run.actual_outcome)
    _, onset = place_onset(timeline, details, fault_start_ns=fault_start_ns(run), healthy=healthy)
    return onset
