"""Issue 15 (API): ids holding `/` are addressable, and a bad batch names every bad record."""

from __future__ import annotations

from fastapi.testclient import TestClient

RUN = {
    "test_id": "Nova/Test_1/round_1",  # as `premortem replay openstack-fi` names runs
    "timestamp": "2024-01-01T00:00:00Z",
    "service": "nova",
    "expected_outcome": "pass",
    "actual_outcome": "fail",
}


def test_a_test_run_id_with_slashes_is_found_plain_and_encoded(client: TestClient) -> None:
    assert client.post("/api/v1/test-runs", json=RUN).status_code == 201
    for path in ("Nova/Test_1/round_1", "Nova%2FTest_1%2Fround_1"):
        answer = client.get(f"/api/v1/test-runs/{path}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["test_id"] == RUN["test_id"]
    assert client.get("/api/v1/test-runs/Nova/Test_1").status_code == 404


def test_every_bad_record_of_a_log_batch_is_listed_and_none_is_stored(client: TestClient) -> None:
    batch = [
        {"body": "fine"},
        {"body": 1},
        {"body": "fine too"},
        {"severity_number": 9},
        {"body": "late", "timestamp": "yesterday"},
    ]
    answer = client.post("/api/v1/logs", json=batch)
    assert answer.status_code == 400
    problem = answer.json()
    assert [e["pointer"] for e in problem["errors"]] == ["/1/body", "/3/body", "/4/timestamp"]
    assert problem["detail"].endswith("(and 2 more errors)")
    assert client.get("/api/v1/logs").json()["total"] == 0


def test_every_invalid_field_of_a_test_run_is_listed(client: TestClient) -> None:
    bad = {**RUN, "timestamp": "not a time", "expected_outcome": 3, "service": 7}
    answer = client.post("/api/v1/test-runs", json=[RUN, bad, {"timestamp": 5}])
    assert answer.status_code == 400
    pointers = [e["pointer"] for e in answer.json()["errors"]]
    assert pointers[:3] == ["/1/timestamp", "/1/expected_outcome", "/1/service"]
    assert any(p.startswith("/2/") for p in pointers)
    assert client.get("/api/v1/test-runs").json()["total"] == 0


def test_every_bad_event_of_a_batch_is_listed(client: TestClient) -> None:
    answer = client.post("/api/v1/events", json=[{"type": 1}, {"type": "deploy"}, {}])
    assert answer.status_code == 400
    assert [e["pointer"][:3] for e in answer.json()["errors"]] == ["/0/", "/2/"]


def test_a_simulation_id_with_slashes_is_found_and_played_back(client: TestClient) -> None:
    run = {
        "simulation_id": "capacity/checkout/run 1",
        "model": "service",
        "started_at": "2024-01-01T00:00:00Z",
        "service": "checkout",
        "series": [{"name": "latency", "timestamps": [0, 60], "values": [1, 2]}],
    }
    assert client.post("/api/v1/simulations", json=run).status_code == 201
    for path in ("capacity/checkout/run 1", "capacity%2Fcheckout%2Frun%201"):
        answer = client.get(f"/api/v1/simulations/{path}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["simulation_id"] == run["simulation_id"]
        play = client.get(f"/api/v1/simulations/{path}/playback")
        assert play.status_code == 200, play.text
        page = client.get(f"/simulations/{path}/playback")
        assert page.status_code == 200 and "capacity%2Fcheckout%2Frun%201/playback" in page.text
    assert client.get("/api/v1/simulations/capacity/checkout").status_code == 404


def test_every_error_of_every_bad_otlp_record_is_listed(client: TestClient) -> None:
    good = {"timeUnixNano": "1700000000000000000", "body": {"stringValue": "ok"}}
    bad = {"timeUnixNano": "soon", "severityNumber": 30}
    worse = {"severityText": 3}
    doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": [good, bad, worse]}]}]}
    answer = client.post("/v1/logs", json=doc)
    assert answer.status_code == 400
    at = "/resourceLogs/0/scopeLogs/0/logRecords"
    assert [e["pointer"] for e in answer.json()["errors"]] == [
        f"{at}/1/timeUnixNano",
        f"{at}/1/severityNumber",
        f"{at}/2/severityText",
    ]
    assert client.get("/api/v1/logs").json()["total"] == 0


def test_chaos_toolkit_events_list_in_the_list_shape(client: TestClient) -> None:
    notification = {"name": "run-started", "payload": {"title": "Kill a pod"}, "ts": 1.7e9}
    assert client.post("/api/v1/chaostoolkit/events", json=notification).status_code == 200
    listed = client.get("/api/v1/chaostoolkit/events").json()
    assert listed["total"] == 1 and listed["items"][0]["subject"] == "Kill a pod"


def test_the_backtest_pages_report_as_json(client: TestClient) -> None:
    report = client.get("/api/v1/backtest", params={"range": "24h"})
    assert report.status_code == 200, report.text
    body = report.json()
    assert set(body) >= {"since", "until", "horizon_s", "model", "baseline"}
    assert body["model"]["failures"] == 0 and body["model"]["recall"] is None
    assert {"ece", "brier", "reliability"} <= set(body["model"])
    for params in (
        {"since": "yesterday"},
        {"range": "2w"},
        {"since": "2024-01-02", "until": "2024-01-01"},
    ):
        bad = client.get("/api/v1/backtest", params=params)
        assert 400 <= bad.status_code < 500, (params, bad.text)
        assert bad.headers["content-type"].startswith("application/problem+json"), bad.headers


def test_the_uis_filter_values_are_the_apis(client: TestClient) -> None:
    """The Alerts page's state filter offers "all"; the API takes the same values."""
    for state in ("all", "firing", "resolved"):
        answer = client.get("/api/v1/alerts", params={"state": state})
        assert answer.status_code == 200, (state, answer.text)
        assert set(answer.json()) == {"items", "total"}
