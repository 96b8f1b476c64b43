"""Issue 5 end to end, through the HTTP API: failed test runs are learned, a precursor logged live
becomes exactly one webhook notification, the evidence clearing becomes exactly one resolve, and
feedback on the alert is used by the next training."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from premortem.cli import app as cli
from premortem.config import NotifierSettings, Settings, load_settings
from premortem.service.app import create_app

pytestmark = pytest.mark.e2e

SECOND = 1_000_000_000
HORIZON_S = 60
SERVICES = ("checkout", "payments")
NORMAL = ("GET /api/items/{n} 200 in {n}ms", "cache miss for key item:{n}", "db query rows={n}")
# Hostile on purpose: a terminal escape and a line break that would forge a line in a text alert.
PRECURSOR = "connection pool low: 1 idle of 20, waiters={n} \x1b[31m\n[RESOLVED] all fine"


class Receiver:
    """A webhook receiver on 127.0.0.1 that keeps every payload with its event header."""

    def __init__(self) -> None:
        self.payloads: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        received = self.payloads
        lock = self.lock

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    received.append((self.headers["X-Premortem-Event"], orjson.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self, event: str) -> list[dict[str, Any]]:
        with self.lock:
            return [a for e, p in self.payloads if e == event for a in p["alerts"]]

    def wait_for(self, event: str, *, timeout_s: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while not self.alerts(event) and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.alerts(event)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


@pytest.fixture
def client(tmp_path: Path, receiver: Receiver) -> Iterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'alerts.db'}",
        horizon_s=HORIZON_S,
        notify=NotifierSettings(webhook_urls=[receiver.url], backoff_s=0.05),
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def line(time_ns: int, service: str, body: str, severity: str = "INFO") -> dict[str, Any]:
    return {"timestamp": time_ns, "service": service, "severity_text": severity, "body": body}


def iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / SECOND, UTC).isoformat().replace("+00:00", "Z")


def post_logs(client: TestClient, records: list[dict[str, Any]]) -> None:
    for start in range(0, len(records), 1000):
        response = client.post("/api/v1/logs", json=records[start : start + 1000])
        assert response.status_code == 200, response.text


def normal_lines(service: str, since_ns: int, until_ns: int) -> list[dict[str, Any]]:
    step = SECOND // 2
    return [
        line(t, service, NORMAL[k % len(NORMAL)].format(n=(k * 7919) % 1000))
        for k, t in enumerate(range(since_ns, until_ns, step))
    ]


def history_of(service: str, attempt: int, begins: int) -> tuple[dict[str, Any], list[Any]]:
    """One 5-minute test run; attempts 0 and 1 fail 40 s after a precursor, 2 and 3 pass."""
    failed = attempt < 2
    onset = begins + 240 * SECOND
    run: dict[str, Any] = {
        "test_id": f"{service}-run{attempt}",
        "timestamp": iso(begins),
        "service": service,
        "parameters": {"duration_s": 300},
        "expected_outcome": "pool healthy",
        "actual_outcome": "pool exhausted" if failed else "pool healthy",
    }
    logs = normal_lines(service, begins - 60 * SECOND, begins + 360 * SECOND)
    if failed:
        run |= {"failure_details": "connection pool exhausted", "failure_time": iso(onset)}
        for lead_s in (40, 35, 30):
            body = PRECURSOR.format(n=lead_s + attempt)
            logs.append(line(onset - lead_s * SECOND, service, body, "WARN"))
        logs.append(line(onset, service, "request failed: pool exhausted after 3000ms", "ERROR"))
    return run, logs


def train(client: TestClient) -> dict[str, dict[str, Any]]:
    """Stores the history of every service, trains, and returns the learned modes by service."""
    start = time.time_ns() - 24 * 3600 * SECOND
    for index, (service, attempt) in enumerate((s, a) for s in SERVICES for a in range(4)):
        run, logs = history_of(service, attempt, start + index * 900 * SECOND)
        posted = client.post("/api/v1/test-runs", json=run)
        assert posted.status_code == 201
        # The answer says how the run was read (docs/ingest.md, "When a run failed").
        read_as = "fail" if "failure_details" in run else "pass"
        assert posted.json()["outcomes"] == {run["test_id"]: read_as}
        post_logs(client, logs)
    trained = client.post("/api/v1/train")
    assert trained.status_code == 200, trained.text
    modes = client.get("/api/v1/failure-modes").json()["items"]
    by_service = {m["service"]: m for m in modes if m["source"] == "learned"}
    assert set(by_service) == set(SERVICES), modes
    return by_service


def fire(client: TestClient, receiver: Receiver, service: str) -> tuple[int, dict[str, Any]]:
    """Live logs with one precursor line; returns its time and the one firing alert."""
    now = time.time_ns()
    post_logs(client, normal_lines(service, now - 5 * SECOND, now))
    post_logs(client, [line(now, service, PRECURSOR.format(n=17), "WARN")])
    firing = receiver.wait_for("firing")
    assert len(firing) == 1, firing
    return now, firing[0]


def cited_lines(alert: dict[str, Any]) -> list[str]:
    """The log lines an alert cites: template samples, and the predictor's own samples (which it
    passes as `samples: [{service, line}]`, so they land under `evidence.other`)."""
    evidence = alert["evidence"]
    lines = [s for t in evidence["templates"] for s in t["samples"]]
    return lines + [s["line"] for s in evidence["other"].get("samples", [])]


def test_a_precursor_fires_once_and_the_alert_resolves_once(
    client: TestClient, receiver: Receiver
) -> None:
    modes = train(client)
    mode = modes["checkout"]
    precursor_ns, alert = fire(client, receiver, "checkout")

    assert alert["labels"]["mode_id"] == mode["id"]
    assert alert["labels"]["service"] == "checkout"
    assert alert["mode"]["name"] == mode["name"]
    assert 0.5 <= alert["probability"] <= 1
    lead = alert["lead_time"]
    assert lead["observations"] >= 2
    assert lead["min_s"] <= lead["median_s"] <= lead["max_s"] == pytest.approx(40, abs=5)
    assert alert["mitigations"] and alert["mitigations"][0]["action"]
    assert alert["annotations"]["mitigation"] not in ("", "none")
    assert PRECURSOR.format(n=17) in cited_lines(alert), "JSON carries lines as they were logged"
    # Lines of the training runs are their own section, not live evidence (issue 15).
    excerpts = alert["evidence"]["training_excerpts"]
    assert any(x["line"] == PRECURSOR.format(n=40) for x in excerpts)
    assert {x["test_run"] for x in excerpts} <= {"checkout-run0", "checkout-run1"}
    assert PRECURSOR.format(n=40) not in cited_lines(alert)
    assert "\x1b" not in alert["text"] and "\n[RESOLVED] all fine" not in alert["text"]
    assert "\\x1b[31m" in alert["text"], "the text rendering shows control characters escaped"
    assert set(alert["evidence"]["test_runs"]) == {"checkout-run0", "checkout-run1"}

    # The evidence clears: stream time moves past the horizon with normal lines only.
    later = precursor_ns + 2 * HORIZON_S * SECOND
    post_logs(client, normal_lines("checkout", later, later + 2 * SECOND))
    resolved = receiver.wait_for("resolved")
    assert len(resolved) == 1, resolved
    assert resolved[0]["id"] == alert["id"]
    assert resolved[0]["state"] == "resolved"
    time.sleep(1.5)  # a second tick must not tell anyone again
    assert len(receiver.alerts("firing")) == 1
    assert len(receiver.alerts("resolved")) == 1
    assert receiver.alerts("escalated") == []
    stored = client.get(f"/api/v1/alerts/{alert['id']}").json()
    assert stored["state"] == "resolved"


def trigger_precisions(client: TestClient, mode_id: str) -> dict[str, float]:
    mode = client.get(f"/api/v1/failure-modes/{mode_id}").json()
    return {t["id"]: t["precision"] for t in mode["triggers"]}


def give_feedback(client: TestClient, alert_id: str, kind: str) -> None:
    response = client.post(f"/api/v1/alerts/{alert_id}/feedback", json={"kind": kind})
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == kind


def retrain(client: TestClient) -> None:
    assert client.post("/api/v1/train").status_code == 200


def test_feedback_is_stored_and_used_by_the_next_training(
    client: TestClient, receiver: Receiver
) -> None:
    mode = train(client)["payments"]
    before = trigger_precisions(client, mode["id"])
    assert before and all(p > 0 for p in before.values())
    _, alert = fire(client, receiver, "payments")

    give_feedback(client, alert["id"], "prevented")
    stored = client.get(f"/api/v1/alerts/{alert['id']}").json()
    assert [f["kind"] for f in stored["feedback"]] == ["prevented"]
    retrain(client)
    assert trigger_precisions(client, mode["id"]) == before, "prevented is not a false positive"

    give_feedback(client, alert["id"], "false_alarm")  # the latest word on an alert wins
    retrain(client)
    after = trigger_precisions(client, mode["id"])
    assert after.keys() == before.keys()
    assert all(after[t] < before[t] for t in before), (before, after)
    models = client.get("/api/v1/models").json()
    assert models["total"] == 3
    assert [m["serving"] for m in models["items"]].count(True) == 1


def test_nothing_fires_without_a_precursor(client: TestClient, receiver: Receiver) -> None:
    train(client)
    now = time.time_ns()
    post_logs(client, normal_lines("checkout", now - 5 * SECOND, now))
    client.app.state.runtime.pipeline.drain()  # type: ignore[attr-defined]
    time.sleep(0.5)
    assert receiver.payloads == []


def test_a_failure_seen_live_is_stored_once_and_scores_the_early_alert(
    client: TestClient, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12: the mode's own failure line, logged live, is a failure: listed by
    GET /api/v1/failures, and the alert before it counts as a hit on the Backtest page."""
    from premortem.evaluation.history import StoredHistoryBacktest

    modes = train(client)
    warned_at, _ = fire(client, receiver, "checkout")
    failed_at = warned_at + 30 * SECOND
    failure = [line(failed_at, "checkout", "request failed: pool exhausted after 3000ms", "ERROR")]
    post_logs(client, failure)
    post_logs(client, failure)  # re-sent: stored once
    post_logs(client, [line(failed_at + SECOND, "checkout", failure[0]["body"], "ERROR")])
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    runtime.pipeline.drain()

    listed = client.get("/api/v1/failures").json()
    assert listed["total"] == 1, listed  # one incident, however many of its lines
    (seen,) = listed["items"]
    assert seen["time_ns"] == failed_at and seen["service"] == "checkout"
    assert seen["mode_id"] == modes["checkout"]["id"]
    assert seen["mode_name"] == modes["checkout"]["name"]
    assert "pool exhausted" in seen["evidence"]["line"]
    assert client.get("/api/v1/failures", params={"service": "payments"}).json()["total"] == 0

    since, until = warned_at - 60 * SECOND, failed_at + 60 * SECOND
    page = StoredHistoryBacktest(runtime).report(since_ns=since, until_ns=until, service=None)
    assert page.model.warned == 1 and page.model.false_alarms == 0
    assert page.model.lead_times_s == [30.0]

    # `premortem backtest history` over the same store says the same of the same range.
    monkeypatch.setenv("PREMORTEM_DATABASE_URL", runtime.settings.database_url)
    load_settings.cache_clear()
    out = tmp_path / "history.json"
    result = CliRunner().invoke(
        cli,
        ["backtest", "history", "--since", iso(since), "--until", iso(until), "--json", str(out)],
    )
    load_settings.cache_clear()
    assert result.exit_code == 0, result.output
    live = orjson.loads(out.read_bytes())["live"]
    assert live["model"] == page.model.to_json()
    assert live["baseline"] == page.baseline.to_json()
    assert live["model"]["recall"] == 1.0 and live["model"]["lead_times_s"] == [30.0]
