"""Which candidates become triggers (learn/precursors.py `best_triggers`)."""

from __future__ import annotations

from premortem.domain import TriggerKind
from premortem.learn.precursors import Candidate, best_triggers


def _candidate(text: str, *, hits: int, seen: int, episodes: int) -> Candidate:
    return Candidate(
        TriggerKind.LOG_PATTERN, text, {"template": text}, hits, seen, episodes, [5.0] * hits
    )


def test_a_line_seen_before_passes_as_often_as_before_failures_is_no_trigger() -> None:
    # Three runs, two failed: an access-log line present in all three has precision 2/3, the
    # base rate itself. It must not become a trigger (live, every such line would alert).
    everywhere = _candidate("POST <*> 200 in <*>", hits=2, seen=3, episodes=2)
    leak = _candidate("connection leak suspected: <*>", hits=2, seen=2, episodes=2)
    triggers = best_triggers("fm-x", [everywhere, leak], base_rate=2 / 3)
    assert [t.description for t in triggers] == ["connection leak suspected: <*>"]


def test_when_every_run_failed_a_perfect_candidate_is_still_a_trigger() -> None:
    # Nothing to contrast with: precision 1.0 at base rate 1.0 is the best there is.
    leak = _candidate("connection leak suspected: <*>", hits=3, seen=3, episodes=3)
    assert len(best_triggers("fm-x", [leak], base_rate=1.0)) == 1


def test_a_candidate_above_the_base_rate_is_kept() -> None:
    partial = _candidate("pool low: <*>", hits=2, seen=3, episodes=2)
    assert len(best_triggers("fm-x", [partial], base_rate=0.5)) == 1


def test_events_are_precursors_of_their_own_run_only() -> None:
    """Runs of 90 s back to back: a config change at the end of each run and a deploy early in
    the next one. A trial learned "config.changed followed by deploy.finished" with leads of
    235-555 s and precision 1.0, pairing events of different runs. Now an event is a precursor of
    the run it happened in, and one event type alone is a candidate too, its precision counted
    against the runs where it came and nothing failed: here every run deploys, half fail, so the
    deploy says nothing and is no trigger."""
    from datetime import UTC, datetime, timedelta

    from premortem.domain import Event, LogRecord, TestRun, TriggerKind
    from premortem.learn.model import train

    start = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
    runs, logs, events = [], {}, []
    for i in range(8):
        began = start + timedelta(seconds=90 * i)
        fails = i % 2 == 0
        t0 = int(began.timestamp()) * 10**9
        runs.append(
            TestRun.model_validate(
                {
                    "test_id": f"run-{i}",
                    "timestamp": began.isoformat(),
                    "duration_s": 90,
                    "injected_faults": [{"type": "bad_deploy" if fails else "deploy", "start": 10}],
                    "expected_outcome": "pass",
                    "actual_outcome": "fail" if fails else "pass",
                    "failure_details": "statement timeout on search query" if fails else None,
                }
            )
        )
        events.append(Event(t0 + 10 * 10**9, "deploy.finished", "ci", id=f"d{i}"))
        events.append(Event(t0 + 85 * 10**9, "config.changed", "ci", id=f"c{i}"))
        lines = [
            LogRecord(t0 + s * 10**9, f"GET /search?q={s} 200 in {s % 9} ms", "catalog", 9)
            for s in range(0, 90)
        ]
        if fails:
            lines += [
                LogRecord(t0 + s * 10**9, "ERROR statement timeout on search query", "catalog", 17)
                for s in range(60, 70)
            ]
        logs[f"run-{i}"] = sorted(lines, key=lambda r: r.time_ns)
    model = train(runs, logs, events)
    (mode,) = model.modes
    sequences = {
        tuple(t.condition["sequence"]): t
        for t in mode.triggers
        if t.kind == TriggerKind.EVENT_SEQUENCE
    }
    assert ("config.changed", "deploy.finished") not in sequences, sequences
    assert ("deploy.finished",) not in sequences
    for trigger in sequences.values():
        assert all(lead <= 90 for lead in trigger.lead_times_s), trigger
