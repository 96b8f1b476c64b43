"""The server accepts what its OpenAPI document allows and rejects what it does not: the cases
schemathesis found (tests/integration/schemathesis runs the whole API)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient


def post(client: TestClient, path: str, body: object, media: str = "application/json") -> int:
    response = client.post(path, content=json.dumps(body), headers={"content-type": media})
    return response.status_code


def test_a_json_integer_written_with_a_fraction_is_an_integer(client: TestClient) -> None:
    assert post(client, "/api/v1/logs", [{"body": "x", "severity_number": 13.0}]) == 200
    push = {"streams": [{"stream": {"app": "a"}, "values": [[42282.0, "x"]]}]}
    assert post(client, "/loki/api/v1/push", push) == 204


@pytest.mark.parametrize("stamp", ["9000000000000000001", 9 * 10**18 + 1, "0" * 20])
def test_loki_times_beyond_the_documented_bound_are_refused(
    client: TestClient, stamp: object
) -> None:
    push = {"streams": [{"stream": {}, "values": [[stamp, "x"]]}]}
    assert post(client, "/loki/api/v1/push", push) == 400


def test_the_cloudevents_media_types_take_cloudevents_only(client: TestClient) -> None:
    native = {"id": "1", "source": "/s", "type": "t"}  # no specversion: not a CloudEvent
    assert post(client, "/api/v1/events", native, "application/cloudevents+json") == 400
    event = {**native, "specversion": "1.0"}
    assert post(client, "/api/v1/events", [event], "application/cloudevents+json") == 400
    assert post(client, "/api/v1/events", event, "application/cloudevents-batch+json") == 400
    assert post(client, "/api/v1/events", event, "application/cloudevents+json") == 200


@pytest.mark.parametrize("bad", [{"ts": {}}, {"ts": 7.5e307}, {"ts": 0}, {"phase": {}}])
def test_chaostoolkit_notifications_are_checked_even_when_ignored(
    client: TestClient, bad: dict[str, object]
) -> None:
    assert post(client, "/api/v1/chaostoolkit/events", {"name": "some-event", **bad}) == 400


def test_true_and_false_are_not_numbers(client: TestClient) -> None:
    trigger = {"kind": "log_pattern", "description": "d", "lead_times_s": [False]}
    mode = {"name": "disk full", "triggers": [trigger]}
    assert post(client, "/api/v1/failure-modes", mode) == 422
    run = {
        "simulation_id": "s",
        "model": "m",
        "started_at": "2024-05-01T00:00:00Z",
        "events": [{"time": False, "type": "t"}],
    }
    assert post(client, "/api/v1/simulations", run) == 400
