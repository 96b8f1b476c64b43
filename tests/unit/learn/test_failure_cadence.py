"""A failure goes on while its lines keep their usual spacing (rows.failure_gap_s).

A trial's lock fault logged "ledger write failed, giving up" every ten seconds, with the lock
warnings going on between: seven seconds into the failure, a warning was taken for new evidence
and a second alert opened on a failure already there. Training now learns how far apart a
failure's own lines come, and live the failure lasts that long after each of them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from premortem.clock import ManualClock
from premortem.domain import LogRecord, TestRun
from premortem.ingest.native import log_record, validate_test_run
from premortem.learn import OnlinePredictor, train

START = datetime(2026, 5, 1, 9, 0, 0, tzinfo=UTC)
RUN_S, FAULT_S, FAILURE_S = 90, 15, 40
GIVING_UP = "ledger write failed for order {n}, giving up"
WAITING = "lock wait on ledger table, waited {ms} ms"


def _run(number: int) -> tuple[TestRun, list[LogRecord]]:
    begin = START + timedelta(seconds=number * RUN_S)
    faulty = number % 2 == 1
    doc: dict[str, Any] = {
        "test_id": f"cadence-{number:02d}",
        "timestamp": begin.isoformat(),
        "service": "ledger",
        "expected_outcome": "orders booked",
        "actual_outcome": "orders lost" if faulty else "orders booked",
        "duration_s": RUN_S,
    }
    lines = [("INFO", s, f"order {number * 1000 + s} booked") for s in range(0, RUN_S, 1)]
    if faulty:
        doc["injected_faults"] = [{"type": "lock_contention", "start": FAULT_S}]
        doc["failure_details"] = "ledger write failed, giving up"
        # The lock warnings every 8 s from the fault on, before the failure and during it; the
        # failure's own line every 10 s from 40 s.
        lines += [("WARN", s, WAITING.format(ms=900 + s)) for s in range(20, RUN_S, 8)]
        lines += [("ERROR", s, GIVING_UP.format(n=s)) for s in range(FAILURE_S, RUN_S, 10)]
    records = [
        log_record(
            {
                "timestamp": (begin + timedelta(seconds=s, milliseconds=1)).isoformat(),
                "service": "ledger",
                "severity_text": level,
                "body": body,
            },
            0,
        )
        for level, s, body in lines
    ]
    return validate_test_run(doc).run, sorted(records, key=lambda r: r.time_ns)


def test_warnings_during_a_failure_are_not_a_new_incident() -> None:
    made = [_run(n) for n in range(10)]
    model = train([r for r, _ in made[:8]], {r.test_id: logs for r, logs in made[:8]})
    assert 9 <= model.indicators.failure_gap_s <= 11  # the failure's line every 10 s
    _, records = made[9]
    clock = ManualClock()
    predictor = OnlinePredictor(model, clock)
    opened = []
    for record in records:
        clock.set(record.time_ns)
        opened += [p for p in predictor.observe([record]) if "closes" not in p.evidence]
    failure_ns = records[0].time_ns + FAILURE_S * 10**9
    before = [p for p in opened if p.time_ns < failure_ns]
    during = [p for p in opened if p.time_ns >= failure_ns]
    assert before, "the lock warnings warn of the failure"
    assert during == [], [(p.time_ns - failure_ns) / 1e9 for p in during]
