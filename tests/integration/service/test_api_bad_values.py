"""Hostile values through the API, on SQLite and PostgreSQL: never a 500 (issue 13, items 2, 9).

NUL characters are stored as U+FFFD and found again by the same query; out-of-range times,
offsets and ids, and JSON nested deeper than the stores accept, are 4xx problem+json naming the
field.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

JSON_TYPE = {"content-type": "application/json"}
R = "\ufffd"


def post(client: TestClient, path: str, body: bytes | str) -> int:
    data = body.encode() if isinstance(body, str) else body
    response = client.post(path, content=data, headers=JSON_TYPE)
    assert response.status_code < 500, response.text
    return response.status_code


NUL_BODIES = [
    ("/api/v1/logs", rb'[{"body": "a\u0000b", "timestamp": "2024-05-01T00:00:00Z"}]'),
    ("/api/v1/logs", rb'{"body": "x", "service": "s\u0000", "attributes": {"k\u0000": "\u0000"}}'),
    ("/api/v1/events", rb'{"type": "deploy\u0000", "data": {"x": "\u0000"}}'),
    ("/api/v1/events", rb'{"specversion": "1.0", "id": "1\u0000", "source": "s", "type": "t"}'),
    ("/api/v1/test-runs", rb'{"test_id": "r\u0000", "timestamp": "2024-05-01T00:00:00Z"}'),
    (
        "/loki/api/v1/push",
        rb'{"streams": [{"stream": {"app": "a\u0000"}, "values": [["1", "\u0000"]]}]}',
    ),
    (
        "/v1/logs",
        rb'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "\u0000"}}]}]}]}',
    ),
    ("/api/v1/failure-modes", rb'{"name": "n\u0000", "manifestation": {"a": "\u0000\ud800"}}'),
]


@pytest.mark.parametrize(("path", "body"), NUL_BODIES, ids=[p for p, _ in NUL_BODIES])
def test_nul_is_stored_never_a_server_error(client: TestClient, path: str, body: bytes) -> None:
    assert post(client, path, body) in (200, 201, 204)


def test_nul_reads_back_as_the_replacement_character(client: TestClient) -> None:
    post(client, "/api/v1/logs", rb'{"body": "a\u0000b", "service": "s\u0000"}')
    got = client.get("/api/v1/logs", params={"service": "s\x00"}).json()
    assert [(i["body"], i["service"]) for i in got["items"]] == [(f"a{R}b", f"s{R}")]
    post(
        client, "/api/v1/test-runs", rb'{"test_id": "r\u0000", "timestamp": "2024-05-01T00:00:00Z"}'
    )
    assert client.get("/api/v1/test-runs/r%00").json()["test_id"] == f"r{R}"


@pytest.mark.parametrize(
    "query",
    [
        "/api/v1/logs?service=a%00b&q=x%00",
        "/api/v1/events?type=a%00&service=%00",
        "/api/v1/test-runs?fault_type=a%00b&service=%00",
        "/api/v1/test-runs/a%00b",
        "/api/v1/simulations/a%00b",
        "/api/v1/failure-modes?service=a%00",
        "/api/v1/alerts?service=a%00&mode=%00",
    ],
)
def test_nul_in_a_query_is_answered(client: TestClient, query: str) -> None:
    assert client.get(query).status_code in (200, 404)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("/api/v1/logs?since=1500-01-01T00:00:00Z", "/since"),
        ("/api/v1/logs?until=9999-01-01T00:00:00Z", "/until"),
        ("/api/v1/events?since=2263-01-01T00:00:00Z", "/since"),
        ("/api/v1/test-runs?until=0001-01-01T00:00:00Z", "/until"),
        ("/api/v1/alerts?since=3000-01-01T00:00:00Z", "/since"),
        ("/api/v1/predictions?until=3000-01-01T00:00:00Z", "/until"),
        (f"/api/v1/logs?offset={2**63}", "/offset"),
        (f"/api/v1/events?offset={2**64}", "/offset"),
        (f"/api/v1/failure-modes?offset={2**63}", "/offset"),
        (f"/api/v1/logs?template_id={2**63}", "/template_id"),
        (f"/api/v1/logs?template_id={2**31}", "/template_id"),
    ],
)
def test_out_of_range_query_values_are_4xx_naming_the_field(
    client: TestClient, query: str, field: str
) -> None:
    response = client.get(query)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["pointer"] for e in response.json()["errors"]] == [field]


def test_largest_offset_is_answered(client: TestClient) -> None:
    assert client.get(f"/api/v1/logs?offset={2**63 - 1}").json()["items"] == []


def nested(template: str, levels: int) -> str:
    """`template` with DEEP replaced by arrays nested `levels` deep."""
    return template.replace("DEEP", "[" * levels + "]" * levels)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/v1/test-runs",
            '{"test_id": "r", "timestamp": "3000-01-01T00:00:00Z"}',
            "/timestamp",
        ),
        (
            "/api/v1/test-runs",
            '{"test_id": "r", "timestamp": "1500-01-01T00:00:00Z"}',
            "/timestamp",
        ),
        (
            "/api/v1/simulations",
            '{"simulation_id": "s", "model": "m", "started_at": "3000-01-01T00:00:00Z"}',
            "/started_at",
        ),
        (
            "/api/v1/silences",
            '{"matchers": [{"name": "service", "value": "x"}], "endsAt": "3000-01-01T00:00:00Z"}',
            "/endsAt",
        ),
        (
            "/api/v1/logs",
            nested('[{"body": "x", "attributes": {"a": DEEP}}]', 300),
            "/0/attributes/a",
        ),
        ("/api/v1/logs", nested('{"body": "x", "attributes": {"a": DEEP}}', 253), "/attributes/a"),
        ("/api/v1/logs", nested('{"body": "x", "resource": {"a": DEEP}}', 600), "/resource/a"),
        ("/api/v1/events", nested('{"type": "x", "data": DEEP}', 300), "/data"),
        (
            "/api/v1/events",
            nested(
                '{"specversion": "1.0", "id": "1", "source": "s", "type": "t", "data": DEEP}', 300
            ),
            "/data",
        ),
        (
            "/api/v1/test-runs",
            nested('{"test_id": "d", "timestamp": "2024-05-01T00:00:00Z", "x": DEEP}', 1000),
            "/x",
        ),
        (
            "/api/v1/failure-modes",
            nested('{"name": "d", "manifestation": {"a": DEEP}}', 253),
            "/manifestation/a",
        ),
        (
            "/api/v1/failure-modes",
            nested('{"name": "d", "manifestation": {"a": DEEP}}', 900),
            "/manifestation/a",
        ),
        (
            "/v1/logs",
            json.dumps(
                {
                    "resourceLogs": [
                        {
                            "scopeLogs": [
                                {
                                    "logRecords": [
                                        {
                                            "attributes": [
                                                {
                                                    "key": "k",
                                                    "value": {
                                                        "arrayValue": {
                                                            "values": [
                                                                json.loads(
                                                                    '{"arrayValue": {"values": ['
                                                                    * 200
                                                                    + "]}}" * 200
                                                                )
                                                            ]
                                                        }
                                                    },
                                                }
                                            ]
                                        }
                                    ]
                                }
                            ]
                        }
                    ]
                }
            ),
            "/resourceLogs/0/scopeLogs/0/logRecords/0/attributes/k",
        ),
        ("/api/v1/logs", '{"body": "x", "service": "%s"}' % ("s" * 300), "/service"),
        ("/api/v1/logs", '[{"body": "x", "severity_text": "%s"}]' % ("e" * 40), "/0/severity_text"),
        ("/api/v1/logs", '{"body": "x", "id": "%s"}' % ("i" * 65), "/id"),
        ("/api/v1/events", '{"type": "%s"}' % ("t" * 300), "/type"),
        (
            "/api/v1/events",
            '{"specversion": "1.0", "id": "%s", "source": "s", "type": "t"}' % ("i" * 600),
            "/id",
        ),
        (
            "/loki/api/v1/push",
            '{"streams": [{"stream": {"app": "%s"}, "values": [["1", "x"]]}]}' % ("a" * 300),
            "/streams/0/stream",
        ),
        (
            "/api/v1/test-runs",
            '{"test_id": "f", "timestamp": "2024-05-01T00:00:00Z", "service": "%s"}' % ("s" * 300),
            "/service",
        ),
        (
            "/api/v1/test-runs",
            '{"test_id": "f", "timestamp": "2024-05-01T00:00:00Z", "injected_faults": [{"type": "%s"}]}'
            % ("f" * 300),
            "/injected_faults/0/type",
        ),
    ],
)
def test_bad_body_values_are_4xx_naming_the_field(
    client: TestClient, path: str, body: str, field: str
) -> None:
    response = client.post(path, content=body.encode(), headers=JSON_TYPE)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    pointers = [e["pointer"] for e in problem.get("errors", [])] or [problem["detail"]]
    assert any(field in p for p in pointers), problem


def test_long_ids_and_wide_numbers_are_stored(client: TestClient) -> None:
    run = {"test_id": "t" * 256, "timestamp": "2024-05-01T00:00:00Z", "big": 2**70}
    assert post(client, "/api/v1/test-runs", json.dumps(run)) == 201
    assert client.get("/api/v1/test-runs/" + "t" * 256).json()["test_id"] == "t" * 256
    simulation = {"simulation_id": "s" * 256, "model": "m", "started_at": "2024-05-01T00:00:00Z"}
    assert post(client, "/api/v1/simulations", json.dumps(simulation)) == 201
    uuid = "123e4567-e89b-12d3-a456-426614174000"
    assert post(client, "/api/v1/logs", json.dumps({"id": uuid, "body": "x"})) == 200
    assert client.get("/api/v1/logs").json()["items"][0]["id"] == uuid
    mode = {"name": "wide", "manifestation": {"n": 10**30}}
    assert post(client, "/api/v1/failure-modes", json.dumps(mode)) == 201


@pytest.mark.parametrize(
    "grid",
    [{"from": -1e308, "to": 1e308, "steps": 3}, {"from": 0, "to": "Infinity", "steps": 3}],
)
def test_a_what_if_grid_beyond_floats_is_4xx(client: TestClient, grid: dict[str, object]) -> None:
    body = json.dumps({"change": "pool_size", "duration_s": 5} | grid).replace(
        '"Infinity"', "1e999"
    )
    assert 400 <= post(client, "/api/v1/what-if", body) < 500


def test_a_what_if_that_would_simulate_without_end_is_refused(client: TestClient) -> None:
    body = {"change": "request_rate", "values": [1e12], "duration_s": 1}
    response = client.post("/api/v1/what-if", content=json.dumps(body), headers=JSON_TYPE)
    assert response.status_code == 400, response.text
    assert "request_rate" in response.json()["detail"]
