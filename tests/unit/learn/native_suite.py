"""A small chaos suite in premortem's native formats, run back to back (written for these tests).

A database (`db`) and an app (`app`) log every second. Runs of RUN_S seconds follow each other
with no gap; odd runs inject `lock_contention` at FAULT_S: the database logs lock waits
(warnings) from then on, and FAILURE_AFTER_S later the app logs the failure the test saw. Even
runs are fault-free. Test runs carry no `failure_time`: premortem finds the onset in the logs.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from premortem.domain import LogRecord, TestRun, datetime_to_ns
from premortem.ingest.native import log_record, validate_test_run

START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
RUN_S = 60
FAULT_S = 20
FAILURE_AFTER_S = 25
FAILING_S = 5  # then the test rolls the fault back
FAILURE_DETAILS = "checkout failed: HTTP 500 statement timeout on orders"


def _doc(number: int, begin: datetime, *, faulty: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "test_id": f"suite-{number:02d}",
        "timestamp": begin.isoformat(),
        "service": "app",
        "parameters": {"rps": 20},
        "expected_outcome": "checkout succeeds",
        "duration_s": RUN_S,
    }
    if faulty:
        doc["injected_faults"] = [{"type": "lock_contention", "target": "db", "start": FAULT_S}]
        doc["actual_outcome"] = "checkout failed"
        doc["failure_details"] = FAILURE_DETAILS
    else:
        doc["actual_outcome"] = "checkout succeeds"
    return doc


def _lines(
    number: int, begin: datetime, *, faulty: bool, rng: random.Random
) -> list[dict[str, Any]]:
    out = []
    for second in range(RUN_S):
        now = begin + timedelta(seconds=second, milliseconds=rng.randrange(900))
        out.append(
            {
                "timestamp": now.isoformat(),
                "service": "app",
                "severity_text": "INFO",
                "body": f"GET /api/orders/{rng.randrange(9999)} 200 in {rng.randrange(5, 40)} ms",
            }
        )
        if second % 3 == 0:
            out.append(
                {
                    "timestamp": now.isoformat(),
                    "service": "db",
                    "severity_text": "INFO",
                    "body": f"checkpoint complete: wrote {rng.randrange(10, 99)} buffers",
                }
            )
        failure_at = FAULT_S + FAILURE_AFTER_S
        if faulty and FAULT_S + 2 <= second < failure_at and second % 2 == 0:
            out.append(
                {
                    "timestamp": now.isoformat(),
                    "service": "db",
                    "severity_text": "WARN",
                    "body": f"process {rng.randrange(100, 999)} still waiting for ShareLock on "
                    f"transaction {rng.randrange(1000, 9999)} after {second * 100}.5 ms",
                }
            )
        if faulty and second >= failure_at + FAILING_S and second % 2 == 0:
            out.append(  # the aftermath: the test's rollback kills the blocking sessions
                {
                    "timestamp": now.isoformat(),
                    "service": "db",
                    "severity_text": "WARNING",
                    "body": f"terminating connection {rng.randrange(100, 999)} due to "
                    "administrator command",
                }
            )
        if faulty and failure_at <= second < failure_at + FAILING_S:
            out.append(
                {
                    "timestamp": (now + timedelta(milliseconds=50)).isoformat(),
                    "service": "app",
                    "severity_text": "ERROR",
                    "body": f"checkout failed: HTTP 500 statement timeout on orders "
                    f"(request {rng.randrange(9999)})",
                }
            )
    return out


def documents(
    runs: int = 12, *, seed: int = 7
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The suite as a user sends it: native test-run documents and native log records."""
    rng = random.Random(seed)
    run_docs: list[dict[str, Any]] = []
    log_docs: list[dict[str, Any]] = []
    for number in range(runs):
        begin = START + timedelta(seconds=number * RUN_S)
        faulty = number % 2 == 1
        run_docs.append(_doc(number, begin, faulty=faulty))
        log_docs += _lines(number, begin, faulty=faulty, rng=rng)
    return run_docs, log_docs


def suite(
    runs: int = 12, *, seed: int = 7
) -> tuple[list[TestRun], list[LogRecord], dict[str, int]]:
    """Test runs, their logs (time order) and each failed run's true failure time (ns)."""
    run_docs, log_docs = documents(runs, seed=seed)
    test_runs = [validate_test_run(doc).run for doc in run_docs]
    records = sorted((log_record(d, 0) for d in log_docs), key=lambda r: r.time_ns)
    truth: dict[str, int] = {}
    for run in test_runs:
        if run.failed:
            start = datetime_to_ns(run.timestamp)
            truth[run.test_id] = min(
                r.time_ns
                for r in records
                if r.body.startswith("checkout failed")
                and start <= r.time_ns < start + RUN_S * 10**9
            )
    return test_runs, records, truth
