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
