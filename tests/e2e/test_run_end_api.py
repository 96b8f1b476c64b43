"""Through the API: a test run's end resolves the alert its lines raised, so nothing carries into
the next run — whether the runs were reported before their logs were sent (a replay) or each
when it ended (as a chaos tool reports)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from premortem.domain import rfc3339_ns
from premortem.ingest.native import log_record
from premortem.learn.predictor import RUN_ENDED
from premortem.runtime.assembly import Runtime
from unit.learn.native_suite import FAULT_S, RUN_S, START, documents

pytestmark = pytest.mark.e2e

S = 1_000_000_000


@pytest.fixture(params=[False, True], ids=["analysis-thread", "analysis-process"])
def trained(
    client_factory: Callable[..., TestClient], request: pytest.FixtureRequest
) -> Iterator[TestClient]:
    """A server trained on eight runs of the native suite (lock waits warn of a checkout
    failure), analysing on a thread of it or, as `premortem serve` does, in a child process."""
    with client_factory(analysis_process=request.param) as client:
        runs, logs = documents(8)
        client.post("/api/v1/test-runs", json=runs).raise_for_status()
        client.post("/api/v1/logs", json=logs).raise_for_status()
        _runtime(client).pipeline.drain()
        client.post("/api/v1/train").raise_for_status()
        yield client


def _runtime(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def _later_runs() -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Two runs after the training suite: a harmless lock fault that warns until the run ends and
    passes, then a fault-free run. Returns their documents, their logs and the first one's end."""
    _, logs = documents(8)
    warning = next(d for d in logs if d["severity_text"] == "WARN")
    begin = START + timedelta(seconds=8 * RUN_S)
    docs = [
        {
            "test_id": "harmless",
            "timestamp": begin.isoformat(),
            "service": "app",
            "duration_s": RUN_S,
            "injected_faults": [{"type": "lock_contention", "target": "db", "start": FAULT_S}],
            "expected_outcome": "checkout succeeds",
            "actual_outcome": "checkout succeeds",
        },
        {
            "test_id": "fault-free",
            "timestamp": (begin + timedelta(seconds=RUN_S)).isoformat(),
            "service": "app",
            "duration_s": RUN_S,
            "expected_outcome": "checkout succeeds",
            "actual_outcome": "checkout succeeds",
        },
    ]
    lines = []
    for second in range(2 * RUN_S):
        at = begin + timedelta(seconds=second)
        lines.append(
            {
                "timestamp": at.isoformat(),
                "service": "app",
                "severity_text": "INFO",
                "body": f"GET /api/orders/{second} 200 in 12 ms",
            }
        )
        if FAULT_S <= second < RUN_S and second % 2 == 0:
            lines.append({**warning, "timestamp": (at + timedelta(milliseconds=5)).isoformat()})
    end = log_record(lines[0], 0).time_ns + RUN_S * S
    return docs, lines, end


def _send(client: TestClient, lines: list[dict[str, Any]]) -> None:
    """As a shipper sends them: in batches, in time order."""
    for start in range(0, len(lines), 25):
        client.post("/api/v1/logs", json=lines[start : start + 25]).raise_for_status()
    _runtime(client).pipeline.drain()


def _time(line: dict[str, Any]) -> int:
    return log_record(line, 0).time_ns


def _alerts(client: TestClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get("/api/v1/alerts", params={"limit": 100}).json()[
        "items"
    ]
    return items


def test_runs_sent_before_their_logs_resolve_their_alerts_at_their_ends(
    trained: TestClient,
) -> None:
    docs, records, end = _later_runs()
    trained.post("/api/v1/test-runs", json=docs).raise_for_status()
    _runtime(trained).pipeline.drain()  # the stage looks at the stored runs once a tick
    _send(trained, records)

    (alert,) = _alerts(trained)
    assert alert["started_ns"] < end, "the harmless fault's warnings alerted during its run"
    assert alert["state"] == "resolved" and alert["resolved_ns"] == end, alert
    closing = trained.get("/api/v1/predictions", params={"limit": 100}).json()["items"]
    assert RUN_ENDED in {p["evidence"].get("closes") for p in closing}


def test_a_run_reported_when_it_ends_resolves_its_alert_then(trained: TestClient) -> None:
    docs, records, end = _later_runs()
    during = [r for r in records if _time(r) < end + 3 * S]
    _send(trained, during)
    (alert,) = _alerts(trained)
    assert alert["state"] == "firing", "the run is going on, as far as premortem knows"

    trained.post("/api/v1/test-runs", json=docs[:1]).raise_for_status()  # the run's report
    _runtime(trained).pipeline.drain()
    (alert,) = _alerts(trained)
    assert alert["state"] == "resolved", alert
    assert end <= alert["resolved_ns"] <= _time(during[-1]), (
        f"resolved on stream time when the report came: {rfc3339_ns(alert['resolved_ns'])}"
    )


def test_without_the_runs_the_alert_fires_on_into_the_next_run(trained: TestClient) -> None:
    """The anchor: the same logs with no run reported keep the harmless run's alert firing past
    its end, until its evidence expires (a steady signal: five of its gaps of silence)."""
    _, records, end = _later_runs()
    _send(trained, records)
    (alert,) = _alerts(trained)
    assert alert["resolved_ns"] is None or alert["resolved_ns"] > end + 5 * S, alert


def test_a_failed_run_only_its_probe_saw_is_listed_as_a_failure_seen(
    trained: TestClient,
) -> None:
    """The same warnings, but the run failed at its end with no line of its own (a probe's
    deadline): `GET /api/v1/failures` lists it, with the mode premortem warned of and the run;
    the training suite's failures (over before the model was loaded) are not listed."""
    docs, records, end = _later_runs()
    failed = {
        **docs[0],
        "test_id": "probe-only",
        "actual_outcome": "checkout timed out",
        "failure_details": "probe: checkout did not answer within 5 s",
    }
    trained.post("/api/v1/test-runs", json=[failed, docs[1]]).raise_for_status()
    _runtime(trained).pipeline.drain()
    _send(trained, records)
    _runtime(trained).pipeline.drain()

    (alert,) = _alerts(trained)
    assert alert["resolved_ns"] == end
    (seen,) = trained.get("/api/v1/failures").json()["items"]
    assert seen["time_ns"] == end and seen["service"] == "app", str(seen)
    assert seen["mode_id"] == alert["mode_id"], "the failure of the mode it warned of"
    assert seen["evidence"]["test_run"] == "probe-only"
    assert seen["evidence"]["line"] == "probe: checkout did not answer within 5 s"
