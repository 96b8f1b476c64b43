"""Re-sending through the API, on SQLite and PostgreSQL (issue 13, item 6): a batch sent again
is never stored twice, whatever it lacks; records that differ in one field are both kept."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

JSON_TYPE = {"content-type": "application/json"}


def send(client: TestClient, path: str, body: bytes) -> dict[str, int]:
    response = client.post(path, content=body, headers=JSON_TYPE)
    assert response.status_code == 200, response.text
    result: dict[str, int] = response.json()
    return result


def test_a_resent_batch_without_times_is_stored_once(client: TestClient) -> None:
    logs = b'[{"body": "ok", "service": "api"}, {"body": "ok", "service": "api"}]'
    assert send(client, "/api/v1/logs", logs)["stored"] == 2
    assert send(client, "/api/v1/logs", logs)["stored"] == 0  # received later: same ids
    assert client.get("/api/v1/logs", params={"service": "api"}).json()["total"] == 2
    evts = b'[{"type": "deploy", "source": "ci"}]'
    assert send(client, "/api/v1/events", evts)["stored"] == 1
    assert send(client, "/api/v1/events", evts)["stored"] == 0


def test_records_differing_only_in_severity_are_both_kept(client: TestClient) -> None:
    body = (
        b'[{"timestamp": "2024-05-01T12:00:00Z", "body": "x", "severity_text": "INFO"},'
        b' {"timestamp": "2024-05-01T12:00:00Z", "body": "x", "severity_text": "ERROR"}]'
    )
    assert send(client, "/api/v1/logs", body)["stored"] == 2
    levels = {i["severity_text"] for i in client.get("/api/v1/logs").json()["items"]}
    assert levels == {"INFO", "ERROR"}


def test_a_cloudevent_keeps_its_id_and_is_deduplicated_by_source_and_id(
    client: TestClient,
) -> None:
    first = b'{"specversion": "1.0", "id": "A-1", "source": "/ci", "type": "deploy", "data": 1}'
    redelivered = first.replace(b'"data": 1', b'"data": 2')
    other_source = first.replace(b'"/ci"', b'"/cd"')
    assert send(client, "/api/v1/events", first)["stored"] == 1
    assert send(client, "/api/v1/events", redelivered)["stored"] == 0  # same source + id
    assert send(client, "/api/v1/events", other_source)["stored"] == 1
    binary = client.post(
        "/api/v1/events",
        content=b"{}",
        headers=JSON_TYPE
        | {"ce-specversion": "1.0", "ce-id": "B-2", "ce-source": "/ci", "ce-type": "t"},
    )
    assert binary.json()["stored"] == 1
    found = client.get("/api/v1/events", params={"source": "/ci", "external_id": "A-1"}).json()
    assert found["total"] == 1
    assert (found["items"][0]["external_id"], found["items"][0]["data"]) == ("A-1", 1)
    by_id = client.get("/api/v1/events", params={"external_id": "A-1"}).json()
    assert sorted(i["source"] for i in by_id["items"]) == ["/cd", "/ci"]
