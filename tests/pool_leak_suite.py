"""A pool that leaks under a fault, recorded as test runs, their logs and the pool's usage metric.

The logs say nothing new until the failure (the same access lines throughout, then the failure
line), so only the metric can warn: its usage climbs for 90 s from the fault, to 1.0 in runs that
fail and by 0.2 in runs whose fault is absorbed. Used by the engine and API metric-precursor tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from premortem.domain import InjectedFault, LogRecord, MetricSeries, TestRun

S = 1_000_000_000
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RUN_S = 300
FAULT_S = 60
FAILURE_S = 150  # the pool runs out 90 s after the fault
FAILURE_LINE = "ERROR request failed: could not acquire connection within 5000 ms"
LABELS = {"service": "orders", "pool": "primary"}


def leak_run(
    index: int, *, fails: bool, faulty: bool
) -> tuple[TestRun, list[LogRecord], MetricSeries]:
    start = START + timedelta(seconds=index * RUN_S)
    start_ns = int(start.timestamp()) * S
    run = TestRun(
        test_id=f"pool-{index:02d}",
        timestamp=start,
        ended_at=start + timedelta(seconds=RUN_S - 1),
        expected_outcome="pass",
        actual_outcome="fail" if fails else "pass",
        failure_details=FAILURE_LINE if fails else None,
        injected_faults=[InjectedFault(type="connection_leak", start=FAULT_S)] if faulty else [],
        service="orders",
    )
    end_s = FAILURE_S + 20 if fails else RUN_S - 1
    records = [
        LogRecord(start_ns + s * S, f"INFO GET /orders/{s % 17} 200 in {20 + s % 5} ms", "orders",
                  9, "INFO")
        for s in range(0, end_s, 2)
    ]  # fmt: skip
    if fails:
        records += [
            LogRecord(start_ns + (FAILURE_S + k) * S, FAILURE_LINE, "orders", 17, "ERROR")
            for k in range(0, 20, 2)
        ]
    points = []
    for s in range(0, RUN_S, 5):
        usage = 0.30 + 0.05 * ((s // 5 + index) % 4)  # 0.30-0.45 in normal operation
        if faulty and s >= FAULT_S:
            climb = (s - FAULT_S) / (FAILURE_S - FAULT_S)
            usage = min(1.0, usage + (0.7 if fails else 0.2) * min(climb, 1.0))
        points.append((start_ns + s * S, round(usage, 3)))
    return (
        run,
        sorted(records, key=lambda r: r.time_ns),
        MetricSeries("db_pool_usage", LABELS, points),
    )


def leak_suite(kinds: list[str], first: int) -> list[tuple[TestRun, list[LogRecord], MetricSeries]]:
    return [
        leak_run(first + i, fails=kind == "fail", faulty=kind in ("fail", "recovers"))
        for i, kind in enumerate(kinds)
    ]
