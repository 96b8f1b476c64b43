"""Schedules through the API: a simulation and a test command run, and their results are stored."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.e2e

RESULT = {
    "test_id": "synthetic-checkout-1",
    "timestamp": "2024-05-01T12:00:00Z",
    "injected_faults": [{"type": "network_latency", "value": 200, "unit": "ms"}],
    "expected_outcome": "p99 < 500ms",
    "actual_outcome": "p99 < 500ms",
}


@pytest.fixture
def client(client_factory: Callable[..., TestClient]) -> Iterator[TestClient]:
    """Command schedules need tokens and their executable allowed (see docs/security.md)."""
    with client_factory(tokens="adm1n=admin", allow_command_schedules=sys.executable) as client:
        client.headers["authorization"] = "Bearer adm1n"
        yield client


def test_simulation_and_command_schedules_ingest_their_results(client: TestClient) -> None:
    sim = {
        "name": "pool sim",
        "kind": "simulation",
        "interval_s": 3600,
        "model": "service",
        "params": {"request_rate": 40},
        "duration_s": 20,
        "service": "checkout",
    }
    assert client.post("/api/v1/schedules", json=sim).status_code == 201
    run = client.post("/api/v1/schedules/pool-sim/run").json()
    assert run["status"] == "succeeded", run
    stored = client.get(f"/api/v1/simulations/{run['outputs']['simulation_id']}").json()
    assert stored["service"] == "checkout" and stored["series"]

    script = f"import json,sys; open(sys.argv[1],'w').write(json.dumps({RESULT!r}))"
    command = {
        "name": "synthetic check",
        "kind": "command",
        "cron": "*/5 * * * *",
        "command": [sys.executable, "-c", script, "{result}"],
        "result_format": "native",
    }
    assert client.post("/api/v1/schedules", json=command).status_code == 201
    run = client.post("/api/v1/schedules/synthetic-check/run").json()
    assert run["status"] == "succeeded", run
    assert client.get("/api/v1/test-runs/synthetic-checkout-1").json() == json.loads(
        json.dumps(RESULT)
    )

    listed = client.get("/api/v1/schedules").json()
    assert {s["id"] for s in listed["items"]} == {"pool-sim", "synthetic-check"}
    assert all(s["last_run"]["status"] == "succeeded" for s in listed["items"])


def test_a_failing_command_is_recorded_and_bad_schedules_are_problems(client: TestClient) -> None:
    bad = client.post(
        "/api/v1/schedules", json={"name": "x", "kind": "simulation", "interval_s": 5}
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(
        "application/problem+json"
    )
    failing = {
        "name": "broken",
        "kind": "command",
        "interval_s": 60,
        "command": [sys.executable, "-c", "pass"],
    }
    client.post("/api/v1/schedules", json=failing)
    run = client.post("/api/v1/schedules/broken/run").json()
    assert run["status"] == "failed" and "no result file" in run["detail"]
    assert client.get("/api/v1/schedules/broken").json()["runs"][0]["status"] == "failed"
    assert client.delete("/api/v1/schedules/broken").status_code == 204
    assert client.get("/api/v1/schedules/broken").status_code == 404
