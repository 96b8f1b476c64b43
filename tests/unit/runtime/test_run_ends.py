"""Which end the prediction stage tells the predictor for each stored test run
(`runtime.run_ends`): the training windows' rule, and "reported while running" for a run with
no end of its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from premortem.domain import datetime_to_ns
from premortem.ingest.native import validate_test_run
from premortem.runtime.run_ends import StoredRunEnds
from premortem.testing import MemoryInputStore

S = 1_000_000_000
T0 = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


def _store(*docs: dict[str, Any]) -> MemoryInputStore:
    store = MemoryInputStore()
    store.add_test_runs([validate_test_run(doc) for doc in docs])
    return store


def _run(test_id: str, start_s: int, **fields: Any) -> dict[str, Any]:
    return {
        "test_id": test_id,
        "timestamp": (T0 + timedelta(seconds=start_s)).isoformat(),
        **fields,
    }


def _ns(seconds: float) -> int:
    return datetime_to_ns(T0) + int(seconds * S)


def test_a_run_ends_at_its_own_end_or_where_the_next_run_starts() -> None:
    store = _store(_run("a", 0, duration_s=50), _run("b", 60), _run("c", 90, duration_s=20))
    ends = {e.test_id: e.end_ns for e in StoredRunEnds(store).near(_ns(0))}
    assert ends == {"a": _ns(50), "b": _ns(90), "c": _ns(110)}


def test_a_run_with_no_end_reported_while_the_stream_is_past_its_start_ended_by_then() -> None:
    store = _store(_run("live", 0, actual_outcome="ok", expected_outcome="ok"))
    run_ends = StoredRunEnds(store)
    (end,) = run_ends.near(_ns(42))
    assert end.end_ns == _ns(42)
    (again,) = run_ends.near(_ns(300))
    assert again.end_ns == _ns(42), "the moment it was first seen, not every later look"


def test_a_failed_run_says_when_it_failed_and_what_its_test_saw() -> None:
    store = _store(
        _run(
            "f",
            0,
            duration_s=60,
            services=["db", "app"],
            expected_outcome="ok",
            actual_outcome="timed out",
            failure_details="probe: no answer within 5 s",
            failure_time=(T0 + timedelta(seconds=40)).isoformat(),
        )
    )
    (end,) = StoredRunEnds(store).near(_ns(0))
    assert (end.failed, end.failure_ns, end.services) == (True, _ns(40), ("app", "db"))
    assert end.details == "probe: no answer within 5 s" and end.start_ns == _ns(0)


def test_a_run_without_an_outcome_yet_is_going_on_until_it_has_one() -> None:
    store = _store(_run("awaited", 0, expected_outcome="Pass"))
    run_ends = StoredRunEnds(store)
    assert run_ends.near(_ns(20)) == [], "no outcome, no end: nothing to tell"
    store.add_test_runs(
        [validate_test_run(_run("awaited", 0, expected_outcome="Pass", actual_outcome="Pass"))]
    )
    (end,) = run_ends.near(_ns(75))
    assert end.end_ns == _ns(75), "over when its outcome came"
