"""The alert API over an in-process app (TestClient): no sockets, in-memory twins."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from premortem.service import problems
from premortem.service.routes_alerts import router

if TYPE_CHECKING:
    from tests.unit.alerting.conftest import Rig


@pytest.fixture
def client(rig: Rig) -> TestClient:
    app = FastAPI()
    app.state.alerting = rig.service
    app.state.token_scopes = {}
    problems.install(app)
    app.include_router(router)
    return TestClient(app)


def test_list_filter_get_and_ack(client: TestClient, rig: Rig) -> None:
    rig.submit(0.8)
    rig.submit(0.8, mode="disk_full", service="payments")
    page = client.get("/api/v1/alerts", params={"state": "firing"}).json()
    assert page["total"] == 2
    only = client.get("/api/v1/alerts", params={"service": "payments"}).json()
    assert [a["mode_id"] for a in only["items"]] == ["disk_full"]
    assert client.get("/api/v1/alerts", params={"mode": "db_pool", "limit": 1}).json()["total"] == 1
    later = client.get("/api/v1/alerts", params={"until": "2000-01-01T00:00:00Z"}).json()
    assert later["total"] == 0
    alert_id = page["items"][0]["id"]
    one = client.get(f"/api/v1/alerts/{alert_id}").json()
    assert one["lead_time"] is not None or one["mode_id"] == "disk_full"
    assert client.post(f"/api/v1/alerts/{alert_id}/ack").json()["acknowledged"] is True
    missing = client.get("/api/v1/alerts/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_silence_lifecycle(client: TestClient, rig: Rig) -> None:
    created = client.post(
        "/api/v1/silences",
        json={
            "matchers": [{"name": "service", "value": "check.*", "is_regex": True}],
            "endsAt": "2100-01-01T00:00:00Z",
            "createdBy": "ops",
            "comment": "maintenance",
        },
    )
    assert created.status_code == 201, created.text
    silence = created.json()
    assert silence["status"] == "active"
    rig.submit(0.9)
    assert rig.webhook.batches == []
    listed = client.get("/api/v1/silences", params={"active": True}).json()
    assert [s["id"] for s in listed["items"]] == [silence["id"]]
    expired = client.delete(f"/api/v1/silences/{silence['id']}").json()
    assert expired["status"] == "expired"
    assert client.get("/api/v1/silences", params={"active": True}).json()["total"] == 0
    assert client.delete("/api/v1/silences/nope").status_code == 404


def test_bad_silence_is_a_problem(client: TestClient) -> None:
    bad_regex = client.post(
        "/api/v1/silences",
        json={
            "matchers": [{"name": "service", "value": "(", "is_regex": True}],
            "endsAt": "2100-01-01T00:00:00Z",
        },
    )
    assert bad_regex.status_code == 400
    assert bad_regex.json()["errors"][0]["pointer"] == "/matchers/0/value"
    backwards = client.post(
        "/api/v1/silences",
        json={
            "matchers": [{"name": "service", "value": "x"}],
            "startsAt": "2100-01-02T00:00:00Z",
            "endsAt": "2100-01-01T00:00:00Z",
        },
    )
    assert backwards.status_code == 400


def test_feedback(client: TestClient, rig: Rig) -> None:
    rig.submit(0.8)
    alert_id = rig.store.firing_alerts()[0].id
    response = client.post(
        f"/api/v1/alerts/{alert_id}/feedback",
        json={"kind": "prevented", "comment": "scaled the pool"},
    )
    assert response.status_code == 201 and response.json()["kind"] == "prevented"
    assert client.get(f"/api/v1/alerts/{alert_id}").json()["feedback"][0]["kind"] == "prevented"
    assert client.post(f"/api/v1/alerts/{alert_id}/feedback", json={"kind": "meh"}).status_code in (
        400,
        422,
    )
    assert (
        client.post("/api/v1/alerts/nope/feedback", json={"kind": "confirmed"}).status_code == 404
    )
