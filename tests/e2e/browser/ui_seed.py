"""Seed data for the browser tests, stored through the pipeline and the repositories.

Log content is hostile on purpose: two lines try to run script (`window.__pwned`) if any page
ever renders them as HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from premortem.domain import (
    Anomaly,
    Event,
    Evidence,
    FailureMode,
    LogRecord,
    Mitigation,
    Prediction,
    Source,
    TestRun,
    Trigger,
    TriggerKind,
    ns_to_datetime,
)
from premortem.ports import StoredTestRun
from premortem.runtime.assembly import Runtime

NS = 1_000_000_000
SCRIPT_LINE = "login failed for user <script>window.__pwned=1</script>"
IMG_LINE = 'login failed for user <img src=x onerror="window.__pwned=1">'
POOL_LINE = "connection pool exhausted: waited 5000 ms for a connection (pool=orders, size=10)"
MODE_ID = "db-pool-exhaustion"
OTHER_MODE_ID = "queue-overflow"
FAILED_RUN = "chaos-run-latency-42"


@dataclass(frozen=True)
class Seeded:
    now_ns: int
    pool_template_id: int
    hostile_template_id: int
    alert_id: str


def _logs(now: int) -> list[LogRecord]:
    records = []
    for i in range(120):
        t = now - (7200 - i * 60) * NS
        records.append(
            LogRecord(
                time_ns=t,
                body=f"GET /orders/{i} 200 in {20 + i % 7} ms",
                service="checkout",
                severity_text="INFO",
                severity_number=9,
            )
        )
        if i > 90:
            records.append(
                LogRecord(
                    time_ns=t + NS,
                    body=POOL_LINE.replace("5000", str(4000 + i * 10)),
                    service="checkout",
                    severity_text="WARN",
                    severity_number=13,
                )
            )
        if i % 10 == 0:
            records.append(
                LogRecord(
                    time_ns=t + 2 * NS,
                    body=f"payment {i} authorised",
                    service="payments",
                    severity_text="INFO",
                    severity_number=9,
                )
            )
    for j, line in enumerate((SCRIPT_LINE, IMG_LINE)):
        records.append(
            LogRecord(
                time_ns=now - (600 - j) * NS,
                body=line,
                service="checkout",
                severity_text="ERROR",
                severity_number=17,
            )
        )
    return records


def _runs(now: int) -> list[StoredTestRun]:
    start = ns_to_datetime(now - 3 * 3600 * NS)
    failed = TestRun(
        test_id=FAILED_RUN,
        timestamp=start,
        service="checkout",
        environment="staging",
        parameters={"request_rate": 400, "db_pool_size": 10, "note": "<b>bold?</b>"},
        injected_faults=[
            {
                "type": "network_latency",
                "target": "postgres",
                "value": 300,
                "unit": "ms",
                "duration": 120,
                "start": 10,
            },
            {
                "type": "cpu_hog",
                "target": "checkout",
                "value": 90,
                "unit": "%",
                "duration": "60s",
                "start": 60,
            },
        ],
        expected_outcome="p99 latency < 500 ms",
        actual_outcome="p99 latency 4200 ms; 12% of requests failed",
        failure_details={"error": "connection pool exhausted", "first_seen": "<script>x</script>"},
        failure_time=start + timedelta(seconds=95),
    )
    passed = TestRun(
        test_id="synthetic-smoke-7",
        timestamp=start - timedelta(hours=1),
        service="payments",
        parameters={"request_rate": 50},
        expected_outcome="ok",
        actual_outcome="ok",
    )
    return [
        StoredTestRun(r, r.model_dump(mode="json", exclude_none=True)) for r in (failed, passed)
    ]


def _modes(pool_template: int, excerpt: LogRecord) -> list[FailureMode]:
    pool = FailureMode(
        id=MODE_ID,
        name="Database connection pool exhaustion",
        description="Requests queue for a database connection until they time out.",
        severity="critical",
        service="checkout",
        manifestation={"template": "connection pool exhausted", "error_rate": "> 5%"},
        triggers=[
            Trigger(
                id="t1",
                kind=TriggerKind.LOG_PATTERN,
                description="pool wait warnings rise",
                condition={"template_id": pool_template},
                support=0.8,
                precision=0.9,
                lead_times_s=[240, 300, 310, 420, 600, 180],
            ),
            Trigger(
                id="t2",
                kind=TriggerKind.FAULT_CONDITION,
                description="added database latency ≥ 200 ms",
                condition={"fault": "network_latency", "min_ms": 200},
                support=0.6,
                precision=0.75,
                lead_times_s=[90, 120, 150],
            ),
        ],
        mitigations=[
            Mitigation(
                id="m1",
                action="Raise the pool size to 20 and shed low-priority traffic",
                runbook_url="https://runbooks.example/db-pool",
            ),
            Mitigation(id="m2", action="Roll back the last deploy of checkout"),
        ],
        evidence=Evidence(
            test_runs=[FAILED_RUN],
            simulation_runs=["sim-pool-1"],
            log_excerpts=[
                {
                    "template": "login failed for user <*>",
                    "body": IMG_LINE,
                    "record_id": excerpt.id,  # as training writes them (learn/model.py)
                    "test_run": FAILED_RUN,
                    "service": excerpt.service,
                }
            ],
        ),
        source=Source.LEARNED,
    )
    queue = FailureMode(
        id=OTHER_MODE_ID,
        name="Work queue overflow",
        severity="warning",
        service="payments",
        mitigations=[Mitigation(action="Add two workers")],
    )
    return [pool, queue]


def _predictions(now: int, pool_template: int, hostile_template: int) -> list[Prediction]:
    evidence = {
        "templates": [
            {
                "template_id": pool_template,
                "template": "connection pool exhausted <*>",
                "samples": [POOL_LINE],
                "count": 29,
            },
            {
                "template_id": hostile_template,
                "template": "login failed for user <*>",
                "samples": [SCRIPT_LINE, IMG_LINE],
                "count": 2,
            },
        ],
        "test_runs": [FAILED_RUN],
    }
    found = [
        Prediction(
            id=f"pool-{i}",
            time_ns=now - (3600 - i * 180) * NS,
            mode_id=MODE_ID,
            service="checkout",
            probability=min(0.95, 0.1 + i * 0.04),
            horizon_s=600,
            lead_time_s=300,
            evidence=evidence,
        )
        for i in range(21)
    ]
    found += [
        Prediction(
            id=f"queue-{i}",
            time_ns=now - (3600 - i * 300) * NS,
            mode_id=OTHER_MODE_ID,
            service="payments",
            probability=0.2 + (i % 3) * 0.05,
            horizon_s=900,
        )
        for i in range(12)
    ]
    return found


def seed(runtime: Runtime) -> Seeded:
    now = runtime.clock.now_ns()
    pipeline = runtime.pipeline
    records = sorted(_logs(now), key=lambda r: r.time_ns)
    for start in range(0, len(records), 20):  # a few windows per batch, as a live stream sends
        pipeline.ingest_logs(records[start : start + 20])
    pipeline.catalog.flush()
    pool_template = next(t.id for t in pipeline.catalog.templates() if "pool" in t.template)
    hostile = next(t.id for t in pipeline.catalog.templates() if "login failed" in t.template)
    pipeline.ingest_test_runs(_runs(now))
    pipeline.ingest_events(
        [
            Event(
                time_ns=now - 5400 * NS,
                type="deploy",
                source="ci",
                subject="checkout v2.3",
                service="checkout",
            ),
            Event(
                time_ns=now - 1800 * NS,
                type="incident.opened",
                source="pager",
                subject="checkout errors <i>high</i>",
                service="checkout",
            ),
        ]
    )
    excerpt = next(r for r in records if r.body == IMG_LINE)
    for mode in _modes(pool_template, excerpt):
        runtime.modes.save_mode(mode, change="seeded")
    runtime.anomalies.add_anomalies(
        [
            Anomaly(
                id="a1",
                time_ns=now - 1500 * NS,
                service="checkout",
                detector="rate_burst",
                score=4.2,
                template_id=pool_template,
                # as the analyzer words it (detect/analyzer.py); the page names the template
                summary=f"Rate burst of template {pool_template} in checkout",
            ),
            Anomaly(
                id="a2",
                time_ns=now - 600 * NS,
                service="checkout",
                detector="new_template",
                score=1.0,
                template_id=hostile,
                summary=f"new template: {SCRIPT_LINE}",
            ),
        ]
    )
    predictions = _predictions(now, pool_template, hostile)
    runtime.predictions.add_predictions(predictions)
    latest = max((p for p in predictions if p.mode_id == MODE_ID), key=lambda p: p.time_ns)
    alerts = runtime.alerting.submit([latest])
    alert_id = alerts[0].id if alerts else runtime.alerting.store.firing_alerts()[0].id
    return Seeded(now, pool_template, hostile, alert_id)
