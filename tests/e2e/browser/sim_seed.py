"""Seed data for the simulation pages: logs of `checkout` replayed as a live stream would send them
(errors from the middle on), an anomaly and an alert among them, and a built-in simulation of the
same service. One anomaly summary is hostile on purpose (it must show as text)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from premortem.domain import (
    Anomaly,
    Event,
    FailureMode,
    LogRecord,
    Prediction,
    TestRun,
    datetime_to_ns,
)
from premortem.ports import StoredTestRun
from premortem.runtime.assembly import Runtime
from premortem.sim import FaultSpec, run_model

NS = 1_000_000_000
SERVICE = "checkout"
OBSERVED_START = datetime(2024, 6, 3, 10, 0, tzinfo=UTC)
LATER_RUN_S = 600  # a failed test run of the service, ten minutes after the replayed logs began
INCIDENT_S = 900
OBSERVED_S = 300
HOSTILE = "pool <script>window.__pwned=1</script> burst"


def _records() -> list[LogRecord]:
    start = datetime_to_ns(OBSERVED_START)
    records = []
    for second in range(OBSERVED_S):
        failing = second >= 120
        for k in range(3 if failing else 2):
            error = failing and k == 2
            records.append(
                LogRecord(
                    time_ns=start + second * NS + k * 300_000_000,
                    body=f"pool wait {900 + second} ms, giving up"
                    if error
                    else f"GET /cart/{second} 200 in {20 + second % 9} ms",
                    service=SERVICE,
                    severity_text="ERROR" if error else "INFO",
                    severity_number=17 if error else 9,
                )
            )
    return records


def seed_simulation_pages(runtime: Runtime) -> str:
    """Store everything; returns the simulation's id."""
    records = _records()
    for first in range(0, len(records), 50):  # a few windows per batch, like a replay
        runtime.pipeline.ingest_logs(records[first : first + 50])
    runtime.pipeline.catalog.flush()
    at = datetime_to_ns(OBSERVED_START + timedelta(seconds=130))
    runtime.anomalies.add_anomalies(
        [Anomaly(id="sim-a1", time_ns=at, service=SERVICE, detector="rate_burst", score=5.0,
                 summary=HOSTILE)]
    )  # fmt: skip
    runtime.modes.save_mode(
        FailureMode(id="pool-exhaustion", name="Connection pool exhaustion", service=SERVICE),
        change="seeded",
    )
    runtime.alerting.submit(
        [Prediction(id="sim-p1", time_ns=at + 10 * NS, mode_id="pool-exhaustion",
                    service=SERVICE, probability=0.93, horizon_s=300, lead_time_s=60)]
    )  # fmt: skip
    # Live windows the Playback page offers to align with (after the replayed logs' 240 s).
    started = OBSERVED_START + timedelta(seconds=LATER_RUN_S)
    test_run = TestRun(
        test_id="leak-rerun-7",
        timestamp=started,
        service=SERVICE,
        expected_outcome="pass",
        actual_outcome="fail",
    )
    runtime.pipeline.ingest_test_runs([StoredTestRun(test_run, test_run.model_dump(mode="json"))])
    runtime.pipeline.ingest_events(
        [Event(time_ns=datetime_to_ns(OBSERVED_START + timedelta(seconds=INCIDENT_S)),
               type="incident.opened", source="pager", subject="checkout 503s", service=SERVICE)]
    )  # fmt: skip
    run = run_model(
        "service",
        {"request_rate": 60, "pool_size": 4},
        seed=2,
        duration_s=240,
        faults=[FaultSpec(type="latency", start_s=100, value=0.05)],
    ).model_copy(update={"service": SERVICE})
    runtime.pipeline.ingest_simulations([run])
    return run.simulation_id
