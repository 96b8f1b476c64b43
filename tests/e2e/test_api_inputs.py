"""The ingestion API as a client sees it: round trips, compatible formats, bad input, limits."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from premortem.examples import seed_example_bytes

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parent.parent / "fixtures" / "api"


def counts(client: TestClient) -> dict[str, int]:
    counts: dict[str, int] = client.app.state.pipeline.store.counts()  # type: ignore[attr-defined]
    return counts


def test_seed_example_reads_back_with_identical_fields(client: TestClient) -> None:
    sent = json.loads(seed_example_bytes())
    response = client.post(
        "/api/v1/test-runs",
        content=seed_example_bytes(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 201, response.text
    got = client.get(f"/api/v1/test-runs/{sent['test_id']}")
    assert got.status_code == 200
    assert got.json() == sent
    listed = client.get("/api/v1/test-runs", params={"outcome": "fail"}).json()
    assert listed["total"] == 1 and listed["items"][0] == sent
    fault = sent["injected_faults"][0]["type"]
    assert client.get("/api/v1/test-runs", params={"fault_type": fault}).json()["total"] == 1
    assert client.get("/api/v1/test-runs", params={"fault_type": "nope"}).json()["total"] == 0


def test_otlp_json_batch_is_stored_and_listed(client: TestClient) -> None:
    body = (FIXTURES / "otlp-logs.json").read_bytes()
    response = client.post(
        "/v1/logs",
        content=gzip.compress(body),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert response.status_code == 200 and response.json() == {}
    items = client.get("/api/v1/logs", params={"service": "checkout"}).json()["items"]
    bodies = {item["body"] for item in items}
    assert "db timeout" in bodies
    record = next(i for i in items if i["body"] == "db timeout")
    assert (
        record["severity_number"] == 17 and record["trace_id"] == "5b8efff798038103d269b633813fc60c"
    )
    assert record["template_id"] is not None


def test_loki_push_is_stored_and_listed(client: TestClient) -> None:
    push = {
        "streams": [
            {
                "stream": {"service_name": "payments", "level": "error"},
                "values": [
                    ["1570818238000000000", "payment gateway timeout after 30s"],
                    ["1570818239000000000", "retrying payment 42", {"trace_id": "0242ac120002"}],
                ],
            }
        ]
    }
    response = client.post("/loki/api/v1/push", json=push)
    assert response.status_code == 204, response.text
    listed = client.get("/api/v1/logs", params={"service": "payments"}).json()
    assert listed["total"] == 2
    assert listed["items"][0]["body"] == "retrying payment 42"


def test_loki_protobuf_push_is_stored_and_listed(client: TestClient) -> None:
    """Promtail's and Alloy's default body: snappy-compressed logproto.PushRequest."""
    from loki_push import push_body

    body = push_body(
        [
            {
                "labels": '{service_name="ledger", level="error"}',
                "entries": [(1570818238000000000, "ledger write timed out", {"trace_id": "ab12"})],
            }
        ]
    )
    response = client.post(
        "/loki/api/v1/push", content=body, headers={"Content-Type": "application/x-protobuf"}
    )
    assert response.status_code == 204, response.text
    listed = client.get("/api/v1/logs", params={"service": "ledger"}).json()
    assert [(i["body"], i["severity_number"], i["trace_id"]) for i in listed["items"]] == [
        ("ledger write timed out", 17, "ab12")
    ]
    garbage = client.post(
        "/loki/api/v1/push",
        content=b"\x00garbage",
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert garbage.status_code == 400
    assert garbage.headers["content-type"].startswith("application/problem+json")


def test_remote_write_is_stored_and_listed_as_series(client: TestClient) -> None:
    from prom_write import write_body

    body = write_body(
        [({"__name__": "queue_depth", "service": "checkout"}, [(1570818238000, 4.0)])]
    )
    headers = {
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
    }
    for _ in range(2):  # a sender's retry stores nothing twice
        response = client.post("/api/v1/write", content=body, headers=headers)
        assert response.status_code == 204, response.text
    listed = client.get("/api/v1/series", params={"metric": "queue_depth"}).json()
    assert listed == {
        "items": [
            {
                "metric": "queue_depth",
                "labels": {"service": "checkout"},
                "points": [[1570818238000000000, 4.0]],
            }
        ],
        "total": 1,
    }
    bad = client.post("/api/v1/write", content=b"\x00garbage", headers=headers)
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/series").status_code == 422  # metric is required
    names = client.get("/api/v1/series/names").json()
    assert {"metric": "queue_depth", "series": 1} in names["items"]
    assert names["total"] == len(names["items"])


def test_cloudevents_batch_is_stored_and_listed(client: TestClient) -> None:
    batch = [
        {
            "specversion": "1.0",
            "id": "d-1",
            "source": "/ci/pipelines/42",
            "type": "com.example.deploy.finished",
            "time": "2024-05-01T12:00:00Z",
            "data": {"service": "checkout", "version": "1.4.2"},
        },
        {
            "specversion": "1.0",
            "id": "c-1",
            "source": "/ci/pipelines/42",
            "type": "com.example.config.changed",
            "time": "2024-05-01T12:01:00Z",
            "data": {"service": "checkout", "key": "pool_size"},
        },
    ]
    response = client.post(
        "/api/v1/events",
        content=json.dumps(batch),
        headers={"content-type": "application/cloudevents-batch+json"},
    )
    assert response.status_code == 200, response.text
    listed = client.get("/api/v1/events").json()
    assert listed["total"] == 2
    assert {e["type"] for e in listed["items"]} == {
        "com.example.deploy.finished",
        "com.example.config.changed",
    }
    # re-sending the same batch stores nothing twice
    client.post(
        "/api/v1/events",
        content=json.dumps(batch),
        headers={"content-type": "application/cloudevents-batch+json"},
    )
    assert client.get("/api/v1/events").json()["total"] == 2


def test_native_logs_json_lines_and_array(client: TestClient) -> None:
    lines = "\n".join(
        json.dumps(
            {
                "timestamp": f"2024-05-01T12:00:0{i}Z",
                "service": "api",
                "severity_text": "INFO",
                "body": f"GET /items/{i} 200",
            }
        )
        for i in range(5)
    )
    assert (
        client.post(
            "/api/v1/logs", content=lines, headers={"content-type": "application/x-ndjson"}
        ).status_code
        == 200
    )
    array = [{"body": "no timestamp, no service"}, {"timestamp": 1714564800000000000, "body": "ns"}]
    answer = client.post("/api/v1/logs", json=array)
    assert answer.status_code == 200
    # a record without a time is said to be stamped on arrival (a user's own field names were
    # accepted without a word, and every line re-timed to "now")
    assert answer.json()["untimed"] == 1 and "stamped with the time they arrived" in answer.text
    timed = client.post("/api/v1/logs", json=[{"ts": "2024-05-01T12:00:09Z", "msg": "zap"}])
    assert "untimed" not in timed.json()
    assert client.get("/api/v1/logs").json()["total"] == 8
    assert client.get("/api/v1/logs", params={"q": "/items/3"}).json()["total"] == 1
    since = client.get("/api/v1/logs", params={"service": "api", "since": "2024-05-01T12:00:03Z"})
    assert since.json()["total"] == 2
    # a level name or its number (a trial's ?min_severity=WARN was a 422)
    client.post(
        "/api/v1/logs", json=[{"timestamp": 1714564810000000000, "level": "warn", "body": "w"}]
    )
    for level in ("WARN", "warning", "13"):
        assert client.get("/api/v1/logs", params={"min_severity": level}).json()["total"] == 1
    bad = client.get("/api/v1/logs", params={"min_severity": "loud"})
    assert bad.status_code == 400 and "unknown level name" in bad.text


BAD_INPUTS: list[tuple[str, str, Any, str]] = [
    ("/api/v1/logs", "application/json", b'[{"body": "ok"}, {"body": 42}]', "/1/body"),
    ("/api/v1/logs", "application/json", b'[{"body": "ok"}, {"service": "x"}]', "/1"),
    (
        "/api/v1/logs",
        "application/json",
        b'[{"body": "ok", "timestamp": "yesterday"}]',
        "/0/timestamp",
    ),
    ("/api/v1/logs", "application/json", b'[{"body": "ok"', ""),
    ("/api/v1/test-runs", "application/json", b'{"test_id": "x"}', "/timestamp"),
    (
        "/api/v1/test-runs",
        "application/json",
        b'{"test_id": 5, "timestamp": "2024-05-01T00:00:00Z"}',
        "/test_id",
    ),
    (
        "/api/v1/test-runs",
        "application/json",
        b'[{"test_id": "a", "timestamp": "2024-05-01T00:00:00Z"}, {"test_id": "b", "timestamp": "not a time"}]',
        "/1/timestamp",
    ),
    (
        "/api/v1/events",
        "application/cloudevents-batch+json",
        b'[{"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}, {"specversion": "1.0", "source": "/s", "type": "t"}]',
        "/1/id",
    ),
    (
        "/api/v1/simulations",
        "application/json",
        b'{"simulation_id": "s", "model": "m", "started_at": "2024-05-01T00:00:00Z", "series": [{"name": "u", "timestamps": [0, 1], "values": [0.5]}]}',
        "/series/0",
    ),
    (
        "/v1/logs",
        "application/json",
        b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "soon"}]}]}]}',
        "timeUnixNano",
    ),
    ("/v1/logs", "application/json", b"not json", ""),
    (
        "/loki/api/v1/push",
        "application/json",
        b'{"streams": [{"stream": {}, "values": [["abc", "line"]]}]}',
        "/streams/0/values/0",
    ),
]


@pytest.mark.parametrize(("path", "content_type", "body", "pointer"), BAD_INPUTS)
def test_bad_input_is_a_problem_and_stores_nothing(
    client: TestClient, path: str, content_type: str, body: bytes, pointer: str
) -> None:
    before = counts(client)
    response = client.post(path, content=body, headers={"content-type": content_type})
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == response.status_code and problem["detail"]
    assert pointer in json.dumps(problem)
    assert counts(client) == before


def test_oversize_body_is_413(client_factory: Callable[..., TestClient]) -> None:
    with client_factory(max_body_bytes=1000) as client:
        big = json.dumps([{"body": "x" * 100}] * 20)
        response = client.post(
            "/api/v1/logs", content=big, headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert response.headers["content-type"].startswith("application/problem+json")
        bomb = gzip.compress(b"[" + b" " * 50_000 + b"]")
        response = client.post(
            "/api/v1/logs",
            content=bomb,
            headers={"content-type": "application/json", "content-encoding": "gzip"},
        )
        assert response.status_code == 413
        assert counts(client)["logs"] == 0


def test_tokens_and_scopes(client_factory: Callable[..., TestClient]) -> None:
    with client_factory(tokens="ing=ingest,rd=read,adm=admin") as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/api/v1/logs").status_code == 401
        assert (
            client.get("/api/v1/logs", headers={"authorization": "Bearer wrong"}).status_code == 401
        )
        assert (
            client.get("/api/v1/logs", headers={"authorization": "Bearer ing"}).status_code == 403
        )
        assert client.get("/api/v1/logs", headers={"authorization": "Bearer rd"}).status_code == 200
        assert (
            client.post(
                "/api/v1/logs", json=[{"body": "x"}], headers={"authorization": "Bearer rd"}
            ).status_code
            == 403
        )
        assert (
            client.post(
                "/api/v1/logs", json=[{"body": "x"}], headers={"authorization": "Bearer ing"}
            ).status_code
            == 200
        )
        assert (
            client.get("/api/v1/logs", headers={"authorization": "Bearer adm"}).status_code == 200
        )


def test_a_test_run_sent_by_mistake_can_be_deleted(
    client_factory: Callable[..., TestClient],
) -> None:
    """A trial had to re-send a wrong run as a passing one dated 2020 to neutralise it."""
    run = {"test_id": "oops/1", "timestamp": "2024-05-01T12:00:00Z", "actual_outcome": "fail",
           "expected_outcome": "pass", "failure_details": "wrong run"}  # fmt: skip
    with client_factory(tokens="ing=ingest,adm=admin") as client:
        ingest, admin = ({"authorization": f"Bearer {t}"} for t in ("ing", "adm"))
        assert client.post("/api/v1/test-runs", json=run, headers=ingest).status_code == 201
        assert client.delete("/api/v1/test-runs/oops/1", headers=ingest).status_code == 403
        assert client.delete("/api/v1/test-runs/oops%2F1", headers=admin).status_code == 204
        assert client.get("/api/v1/test-runs/oops/1", headers=admin).status_code == 404
        gone = client.delete("/api/v1/test-runs/oops/1", headers=admin)
        assert gone.status_code == 404
        assert gone.headers["content-type"].startswith("application/problem+json")


def test_health_metrics_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    client.post("/api/v1/logs", json=[{"body": "hello"}])
    client.post("/api/v1/logs", json=[{"body": 1}])
    metrics = client.get("/metrics").text
    assert 'premortem_ingested_records_total{kind="log"} 1.0' in metrics
    assert 'premortem_rejected_records_total{kind="log"} 1.0' in metrics
    assert "premortem_request_duration_seconds_bucket" in metrics
    assert "premortem_template_evictions_total" in metrics
    assert client.get("/docs").status_code == 200
    assert "/api/v1/test-runs" in client.get("/openapi.json").json()["paths"]


def test_chaos_mesh_objects_are_test_runs(client: TestClient) -> None:
    fixture = Path(__file__).parents[1] / "fixtures" / "ingest" / "chaosmesh" / "list.json"
    sent = client.post(
        "/api/v1/test-runs",
        params={"format": "chaosmesh"},
        content=fixture.read_bytes(),
        headers={"content-type": "application/json"},
    )
    assert sent.status_code == 201, sent.text
    runs = client.get("/api/v1/test-runs").json()["items"]
    kinds = sorted(f["type"] for r in runs for f in r["injected_faults"])
    assert kinds == ["cpu_hog", "io_latency"]
    again = client.post(
        "/api/v1/test-runs?format=chaosmesh",
        content=fixture.read_bytes(),
        headers={"content-type": "application/json"},
    )
    assert again.status_code in (200, 201) and client.get("/api/v1/test-runs").json()["total"] == 2


def test_metrics_count_every_bounded_map(client: TestClient) -> None:
    line = {"body": "disk full on /dev/sda1", "service": "db", "severity_text": "ERROR"}
    assert client.post("/api/v1/logs", json=[line]).status_code == 200
    client.app.state.runtime.pipeline.drain()  # type: ignore[attr-defined]
    text = client.get("/metrics").text
    assert 'premortem_bounded_entries{map="catalog_statistics"} 1.0' in text
    assert "premortem_templates 1.0" in text
