"""The deploy behind an alert is in its evidence (trial 10: modes learned that a deploy preceded
their failures, yet every alert said `"events": []`, one 1.4 s after the deploy that caused it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.e2e

START = datetime(2024, 7, 1, 9, 0, tzinfo=UTC)
RUN_S = 120
DEPLOY_S = 20
FAILURE_S = 70
FAILURE = "render failed for job: worker timed out"


def _stamp(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _run(client: TestClient, index: int, *, bad_deploy: bool, post_run: bool = True) -> None:
    """A bad deploy makes renders slow, then fail; a run without one stays healthy."""
    begin = START + timedelta(seconds=index * RUN_S)
    if bad_deploy:
        deploy = {
            "specversion": "1.0", "id": f"deploy-{index}", "source": "/ci/render",
            "type": "com.example.deploy.finished", "time": _stamp(begin + timedelta(seconds=DEPLOY_S)),
            "data": {"service": "render", "version": f"1.{index}"},
        }  # fmt: skip
        answer = client.post(
            "/api/v1/events", json=deploy, headers={"content-type": "application/cloudevents+json"}
        )
        assert answer.status_code in (200, 201), answer.text
    lines = []
    for s in range(RUN_S - 2):
        t = begin + timedelta(seconds=s)
        lines.append({"timestamp": _stamp(t), "service": "render", "severity_text": "INFO",
                      "body": f"rendered job {index * 1000 + s} in {40 + s % 9} ms"})  # fmt: skip
        if bad_deploy and DEPLOY_S + 10 <= s < FAILURE_S and s % 3 == 0:
            lines.append({"timestamp": _stamp(t), "service": "render", "severity_text": "WARN",
                          "body": f"render slow for job {index * 1000 + s}: {900 + s} ms"})  # fmt: skip
        if bad_deploy and s >= FAILURE_S:
            lines.append({"timestamp": _stamp(t), "service": "render", "severity_text": "ERROR",
                          "body": FAILURE})  # fmt: skip
    assert client.post("/api/v1/logs", json=lines).status_code == 200
    if post_run:
        run = {
            "test_id": f"render-{index}", "timestamp": _stamp(begin), "service": "render",
            "duration_s": RUN_S, "expected_outcome": "renders succeed",
            "actual_outcome": "renders failed" if bad_deploy else "renders succeed",
        }  # fmt: skip
        if bad_deploy:
            run["failure_details"] = FAILURE
        assert client.post("/api/v1/test-runs", json=run).status_code == 201


def test_an_alert_shows_the_deploy_its_mode_learned_to_precede_its_failures(
    client: TestClient,
) -> None:
    for index, bad in enumerate([True, False, True, False, True, False]):
        _run(client, index, bad_deploy=bad)
    client.app.state.pipeline.drain()  # type: ignore[attr-defined]
    assert client.post("/api/v1/train").status_code == 200
    [mode] = client.get("/api/v1/failure-modes").json()["items"]
    assert "event_sequence" in {t["kind"] for t in mode["triggers"]}, mode["triggers"]

    _run(client, 7, bad_deploy=True, post_run=False)  # live, the next day's bad deploy
    client.app.state.pipeline.drain()  # type: ignore[attr-defined]
    [alert] = client.get("/api/v1/alerts", params={"state": "all"}).json()["items"]
    events = alert["evidence"]["events"]
    assert [(e["type"], e["subject"] or e["source"]) for e in events] == [
        ("com.example.deploy.finished", "/ci/render")
    ]
    deployed = START + timedelta(seconds=7 * RUN_S + DEPLOY_S)
    assert events[0]["time"].startswith(_stamp(deployed)[:19])
    assert events[0]["time_ns"] <= alert["started_ns"]
