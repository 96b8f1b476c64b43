"""Rule 2 of the onset (learn/onset.py) prefers a shared symptom: without `failure_time`, and with
details no line reads like, the failure is the new error failed runs of other fault types logged
too — not one kind's cause before it (a trial: a consumer's lock wait timeouts 29 s before the
API's "could not enqueue order", which was taken for the failure, so the lock failures were never
warned while the first-ERROR-line baseline warned them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from premortem.clock import ManualClock
from premortem.domain import LogRecord, TestRun, datetime_to_ns
from premortem.ingest.native import log_record, validate_test_run
from premortem.learn import OnlinePredictor, train
from premortem.learn.onset import shared_symptoms
from premortem.learn.timeline import build_timeline
from premortem.logs.miner import PrefixTreeMiner
from premortem.runtime.training import logs_by_run, run_windows_ns

START = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
RUN_S, FAULT_S = 80, 10
LOCK_ERROR_S, LOCK_FAILURE_S, SLOW_FAILURE_S = 14, 43, 50
DETAILS = "probe: POST /orders answered 503 five times in a row"
S = 1_000_000_000


def _run(number: int, kind: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    begin = START + timedelta(seconds=number * RUN_S)
    doc: dict[str, Any] = {
        "test_id": f"r{number:02d}",
        "timestamp": begin.isoformat(),
        "duration_s": RUN_S,
        "expected_outcome": "orders accepted",
        "actual_outcome": "orders accepted",
    }
    lines: list[dict[str, Any]] = []

    def line(second: float, service: str, level: str, body: str) -> None:
        at = begin + timedelta(seconds=second)
        lines.append(
            {"timestamp": at.isoformat(), "service": service, "severity_text": level, "body": body}
        )

    for second in range(RUN_S):
        line(second, "api", "INFO", f"order {number * 100 + second} accepted in 12 ms")
        line(second + 0.5, "consumer", "INFO", f"order {number * 100 + second} stored")
    if kind is not None:
        doc["injected_faults"] = [{"type": kind, "target": "consumer", "start": FAULT_S}]
        doc["actual_outcome"] = "orders refused"
        doc["failure_details"] = DETAILS
        failure_s = LOCK_FAILURE_S if kind == "table_lock" else SLOW_FAILURE_S
        if kind == "table_lock":
            for second in range(LOCK_ERROR_S, failure_s + 5, 4):
                line(second + 0.2, "consumer", "ERROR", "store failed: Lock wait timeout exceeded")
        for second in range(failure_s, failure_s + 6):
            line(second + 0.3, "api", "ERROR", "could not enqueue order: broker rejected publish")
    return doc, lines


def _suite(kinds: list[str | None]) -> tuple[list[TestRun], list[LogRecord]]:
    runs, records = [], []
    for number, kind in enumerate(kinds):
        doc, lines = _run(number, kind)
        runs.append(validate_test_run(doc).run)
        records += [log_record(d, 0) for d in lines]
    return runs, sorted(records, key=lambda r: r.time_ns)


TRAINING = [None, "table_lock", "consumer_slowdown", None, "table_lock", "consumer_slowdown"]


def test_the_failure_shared_by_two_fault_types_is_the_onset_not_the_locks_cause() -> None:
    runs, records = _suite(TRAINING)
    model = train(runs, logs_by_run(runs, records, windows=run_windows_ns(runs)))
    (lock,) = [
        m
        for m in model.modes
        if "table_lock" in str(m.evidence.test_runs)
        or any("table_lock" in t.description for t in m.triggers)
    ]
    assert sorted(model.stats["onsets"]["shared error"]) == ["r01", "r02", "r04", "r05"]
    manifest = {t.lower() for t in lock.manifestation["failure_templates"]}
    assert any("could not enqueue" in t for t in manifest), manifest
    assert not any("lock wait timeout" in t for t in manifest), "the cause is not the failure"
    assert any("lock wait timeout" in t.description.lower() for t in lock.triggers)

    # Live: the lock's first timeout warns the lock mode, long before the failure.
    later, later_records = _suite([*TRAINING, "table_lock"])
    begin = datetime_to_ns(later[-1].timestamp)
    predictor = OnlinePredictor(model, ManualClock())
    said = predictor.observe([r for r in later_records if begin <= r.time_ns])
    first = next(p for p in said if not p.closing)
    assert first.mode_id == lock.id
    assert first.time_ns - begin <= (LOCK_ERROR_S + 1) * S
    assert (begin + LOCK_FAILURE_S * S - first.time_ns) >= 10 * S


def test_one_fault_type_alone_has_no_shared_symptom() -> None:
    runs, records = _suite([None, "table_lock", None, "table_lock"])
    windows = run_windows_ns(runs)
    by_run = logs_by_run(runs, records, windows=windows)
    miner = PrefixTreeMiner()
    failed = [
        (run, build_timeline(run.test_id, by_run[run.test_id], miner), DETAILS)
        for run in runs
        if run.failed
    ]
    assert shared_symptoms(failed, healthy=set()) == frozenset()


def test_an_error_a_passing_run_logged_too_is_no_shared_symptom() -> None:
    """A rollback's own error ("terminating connection due to administrator command") comes in
    every faulted run, harmless ones too: the aftermath of every kind, not the failure."""
    runs, records = _suite(["table_lock", "consumer_slowdown", None])
    windows = run_windows_ns(runs)
    by_run = logs_by_run(runs, records, windows=windows)
    miner = PrefixTreeMiner()
    timelines = {
        run.test_id: build_timeline(run.test_id, by_run[run.test_id], miner) for run in runs
    }
    failed = [(run, timelines[run.test_id], DETAILS) for run in runs if run.failed]
    (passed,) = [timelines[run.test_id] for run in runs if not run.failed]
    assert shared_symptoms(failed, healthy=set()), "the enqueue error, in both kinds"
    harmless_with_it = _suite(["table_lock", "consumer_slowdown", "consumer_slowdown"])
    last = harmless_with_it[0][-1]
    refused = [
        r
        for r in harmless_with_it[1]
        if r.time_ns >= datetime_to_ns(last.timestamp) and "could not enqueue" in r.body
    ]
    passed_with_it = build_timeline("harmless", [*by_run[runs[-1].test_id], *refused], miner)
    assert shared_symptoms(failed, healthy=set(), passed=[passed, passed_with_it]) == frozenset()
