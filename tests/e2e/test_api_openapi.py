"""The OpenAPI document says what the server answers (issue 13, item 11), and the answers
schemathesis found to disagree with it are fixed: each test failed before its fix."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"
INGEST = [
    ("/api/v1/logs", "application/x-ndjson"),
    ("/api/v1/events", "application/cloudevents+json"),
    ("/api/v1/test-runs", "application/json"),
    ("/api/v1/simulations", "application/json"),
    ("/api/v1/chaostoolkit/events", "application/json"),
    ("/v1/logs", "application/x-protobuf"),
    ("/loki/api/v1/push", "application/json"),
]


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


@pytest.mark.parametrize(("path", "media"), INGEST)
def test_the_routes_reading_a_raw_batch_declare_their_body(
    client: TestClient, path: str, media: str
) -> None:
    body = client.get("/openapi.json").json()["paths"][path]["post"]["requestBody"]
    assert body["required"] is True
    assert media in body["content"]


def test_every_4xx_is_documented_as_problem_json(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert "Problem" in document["components"]["schemas"]
    for path, method, operation in operations(document):
        responses = operation["responses"]
        if path in ("/healthz", "/readyz"):
            continue
        assert {"400", "401", "403"} <= set(responses), (method, path)
        if method in ("post", "put", "patch", "delete"):
            assert {"408", "413", "415"} <= set(responses), (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        for status, response in responses.items():
            if status.startswith("4"):
                assert list(response["content"]) == [PROBLEM], (method, path, status)
        assert "WWW-Authenticate" in responses["401"]["headers"]
    latest = document["paths"]["/api/v1/models/latest"]["get"]["responses"]
    assert "404" in latest
    assert "409" in document["paths"]["/api/v1/train"]["post"]["responses"]


def test_a_refusal_has_the_documented_type(client: TestClient) -> None:
    response = client.get("/api/v1/models/latest")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    metrics = client.get("/openapi.json").json()["paths"]["/metrics"]["get"]["responses"]["200"]
    assert list(metrics["content"]) == ["text/plain"]
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/api/v1/logs", "GET, POST"),
        ("/api/v1/failure-modes/x", "DELETE, GET, PATCH"),
        ("/api/v1/chaostoolkit/events", "GET, POST"),
    ],
)
def test_405_names_every_method_of_the_path(client: TestClient, path: str, allow: str) -> None:
    """Starlette named only the first route's methods (`Allow: POST` on /api/v1/logs)."""
    response = client.request("TRACE", path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == PROBLEM


def test_times_are_documented_as_the_range_the_server_accepts(client: TestClient) -> None:
    """RFC 3339 within 64-bit nanoseconds, or an epoch number (seconds, or milliseconds)."""
    document = client.get("/openapi.json").json()
    since = next(
        p for p in document["paths"]["/api/v1/logs"]["get"]["parameters"] if p["name"] == "since"
    )
    branches = since["schema"]["anyOf"]
    assert branches[0]["format"] == "date-time" and branches[0]["pattern"].startswith("^(16")
    assert {b.get("type") for b in branches} == {"string", "number", "null"}
    numbers = [("0.5", 200), ("9223372036", 200), ("30000000000", 200), ("1e14", 422)]
    # A number the way a client or a fuzzer spells it (found by schemathesis on PostgreSQL).
    numbers += [("-5e-324", 200), ("1.7E9", 200), ("1e300", 422), ("1e3x", 422)]
    # The documented bounds are inside the range, to the microsecond.
    maximum = max(b.get("maximum", 0) for b in branches)
    numbers += [(repr(maximum), 200), (repr(-maximum), 200)]
    for value, status in numbers:
        assert client.get("/api/v1/logs", params={"since": value}).status_code == status, value
    for value, status in [("1678-01-01T00:00:00Z", 200), ("1600-01-01T00:00:00Z", 422)]:
        assert client.get("/api/v1/logs", params={"since": value}).status_code == status, value


def test_a_null_in_a_failure_mode_patch_resets_the_field_instead_of_a_500(
    client: TestClient,
) -> None:
    mode = {"name": "pool", "service": "cart", "severity": "critical", "description": "d"}
    mode_id = client.post("/api/v1/failure-modes", json=mode).json()["id"]
    cleared = client.patch(
        f"/api/v1/failure-modes/{mode_id}",
        json={"triggers": None, "mitigations": None, "description": None, "severity": None},
    )
    assert cleared.status_code == 200, cleared.text
    body = cleared.json()
    assert (body["triggers"], body["description"], body["severity"]) == ([], "", "warning")
    named = client.patch(f"/api/v1/failure-modes/{mode_id}", json={"name": None})
    assert named.status_code == 422
    assert named.json()["errors"][0]["pointer"] == "/name"


def test_a_schedule_interval_past_100_years_is_refused(client: TestClient) -> None:
    """1e308 s was stored, and every scheduler pass then failed on an OverflowError."""
    schedule = {"name": "far", "kind": "train", "interval_s": 1e308}
    response = client.post("/api/v1/schedules", json=schedule)
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/interval_s"
    rule = client.get("/openapi.json").json()["components"]["schemas"]["Schedule"]["anyOf"]
    assert [branch["required"] for branch in rule] == [["cron"], ["interval_s"]]


def test_playback_started_at_the_end_of_time_is_not_a_500(client: TestClient) -> None:
    run = {
        "simulation_id": "late",
        "model": "service",
        "started_at": "2024-01-01T00:00:00Z",
        "service": "cart",
        "series": [{"name": "latency", "timestamps": [0, 60], "values": [1, 2]}],
    }
    assert client.post("/api/v1/simulations", json=run).status_code == 201
    start = datetime(2262, 4, 11, 23, 47, tzinfo=UTC).isoformat()
    response = client.get("/api/v1/simulations/late/playback", params={"start": start})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("timestamps", "metadata"), [([0, 1e308], {}), ([1e308], {"window_s": 1e308})]
)
def test_playback_of_a_simulation_reaching_1e308_s_is_not_a_500(
    client: TestClient, timestamps: list[float], metadata: dict[str, float]
) -> None:
    """Its span overflowed to inf, or past int64 nanoseconds (found on PostgreSQL)."""
    run = {
        "simulation_id": "long",
        "model": "service",
        "started_at": "2024-01-01T00:00:00Z",
        "service": "cart",
        "series": [
            {
                "name": "latency",
                "timestamps": timestamps,
                "values": [1] * len(timestamps),
                "metadata": metadata,
            }
        ],
    }
    assert client.post("/api/v1/simulations", json=run).status_code == 201
    for start in ("323894780694.2", "2262-04-11T23:47:00Z", None):
        params = {"start": start} if start else {}
        response = client.get("/api/v1/simulations/long/playback", params=params)
        assert response.status_code == 200, (start, response.text)


@pytest.mark.parametrize(
    ("path", "params", "pointer"),
    [
        ("/api/v1/anomalies", {"since": "0138-02-08T22:19:14Z"}, "/since"),
        ("/api/v1/anomalies", {"until": "4872-01-14T06:21:58Z"}, "/until"),
        ("/api/v1/anomalies", {"template_id": str(2**63)}, "/template_id"),
        ("/api/v1/anomalies", {"offset": str(2**63)}, "/offset"),
        ("/api/v1/templates/1/series", {"since": "2779-03-17T19:32:08-20:56"}, "/since"),
        (f"/api/v1/templates/{2**63}/series", {}, "/template_id"),
        ("/api/v1/templates", {"offset": str(2**63)}, "/offset"),
    ],
)
def test_template_routes_take_the_shared_bounded_parameters(
    client: TestClient, path: str, params: dict[str, str], pointer: str
) -> None:
    """Out-of-range times and ids reached the database: 500 (schemathesis, both databases)."""
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == pointer
