"""Alerting against a real Prometheus Alertmanager (Debian `prometheus-alertmanager`, started here)
and a real HTTP webhook receiver, with the SQL alert store on SQLite."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from premortem.alerting import AlertingService, FeedbackKind, Matcher, feedback_for_training
from premortem.clock import SystemClock
from premortem.config import NotifierSettings, Settings
from premortem.domain import FailureMode, Mitigation, Prediction, Trigger, TriggerKind
from premortem.store.alerts import AlertStore
from premortem.store.engine import make_engine, migrate

pytestmark = pytest.mark.integration

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
SECRET = "hook-secret"
CONFIG = """
route:
  receiver: nowhere
  group_by: [alertname, mode_id, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: nowhere
"""
POOL = FailureMode(
    id="db_pool",
    name="DB pool exhaustion",
    severity="critical",
    service="checkout",
    triggers=[Trigger(kind=TriggerKind.LOG_PATTERN, description="x", lead_times_s=[240, 600])],
    mitigations=[Mitigation(action="Raise the pool size")],
)
QUEUE = FailureMode(id="queue_overflow", name="Queue overflow", severity="warning")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], *, timeout_s: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(ALERTMANAGER).exists():
        pytest.fail(f"{ALERTMANAGER} is required: apt-get install -y prometheus-alertmanager")
    workdir = tmp_path_factory.mktemp("alertmanager")
    (workdir / "alertmanager.yml").write_text(CONFIG)
    port = free_port()
    process = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={workdir / 'alertmanager.yml'}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url), what="Alertmanager to be ready")
        yield url
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


class Receiver:
    """A webhook receiver that refuses (HTTP 500) the first `fail_first` requests."""

    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.requests: list[tuple[int, dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    status = 500 if len(receiver.requests) < receiver.fail_first else 200
                    receiver.requests.append((status, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for status, _, body in self.requests if status == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver(fail_first=2)
    yield hook
    hook.close()


@pytest.fixture
def alerting(alertmanager: str, receiver: Receiver, tmp_path: Path) -> Iterator[AlertingService]:
    engine = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    migrate(engine)
    settings = Settings(
        public_url="http://premortem.test",
        notify=NotifierSettings(
            alertmanager_url=alertmanager,
            webhook_urls=[receiver.url],
            webhook_secret=SECRET,  # type: ignore[arg-type]
            max_attempts=5,
            backoff_s=0.05,
            resend_interval_s=1,
        ),
    )
    modes = {m.id: m for m in (POOL, QUEUE)}
    service = AlertingService.from_settings(
        settings, AlertStore(engine), modes=modes.get, clock=SystemClock(), tick_interval_s=0.2
    )
    service.start()
    yield service
    service.stop(timeout_s=5)
    engine.dispose()


def predict(mode: str, probability: float) -> Prediction:
    now = time.time_ns()
    return Prediction(
        id=f"{mode}-{now}",
        time_ns=now,
        mode_id=mode,
        service="checkout",
        probability=probability,
        horizon_s=600,
        evidence={
            "environment": "staging",
            "templates": [
                {"template_id": 4, "template": "pool wait <*> ms", "samples": ["pool wait 950 ms"]}
            ],
        },
    )


def am_alerts(url: str, mode: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/v2/alerts", params={"filter": f'mode_id="{mode}"'})
    response.raise_for_status()
    alerts: list[dict[str, Any]] = response.json()
    return alerts


def test_predicted_mode_fires_and_resolves_in_alertmanager_and_webhook(
    alerting: AlertingService, alertmanager: str, receiver: Receiver
) -> None:
    alerting.submit([predict("db_pool", 0.83)])
    [alert] = wait_for(lambda: am_alerts(alertmanager, "db_pool"), what="the alert in Alertmanager")
    assert alert["labels"] == {
        "alertname": "FailureModePredicted",
        "failure_mode": "DB pool exhaustion",
        "mode_id": "db_pool",
        "service": "checkout",
        "environment": "staging",
        "severity": "critical",
    }
    notes = alert["annotations"]
    assert notes["probability"] == "0.83"
    assert notes["lead_time"] == "7m (range 4m-10m)"
    assert notes["mitigation"] == "Raise the pool size"
    assert notes["summary"].startswith("DB pool exhaustion likely on checkout within 7m")
    stored = alerting.store.firing_alerts()[0]
    assert (
        notes["dashboard"] == alert["generatorURL"] == f"http://premortem.test/alerts/{stored.id}"
    )
    assert alert["status"]["state"] == "active"

    # The webhook refused twice (HTTP 500); the third try got through: one firing, accepted.
    wait_for(lambda: receiver.accepted(), what="the webhook to accept the firing")
    time.sleep(1.5)  # resends to Alertmanager happen meanwhile; none may reach the webhook
    alerting.submit([predict("db_pool", 0.84)])  # nothing new: no notification
    [firing] = receiver.accepted()
    assert firing["event"] == "firing" and firing["alerts"][0]["id"] == stored.id
    keys = {headers["Idempotency-Key"] for _, headers, _ in receiver.requests}
    assert len(receiver.requests) == 3 and len(keys) == 1, "retries carry the same key"
    _, headers, body = receiver.requests[-1]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Premortem-Signature"] == expected

    alerting.submit([predict("db_pool", 0.05)])
    wait_for(lambda: not am_alerts(alertmanager, "db_pool"), what="Alertmanager to resolve it")
    wait_for(lambda: len(receiver.accepted()) == 2, what="the resolve notification")
    time.sleep(1.0)
    assert [n["event"] for n in receiver.accepted()] == ["firing", "resolved"]
    assert receiver.accepted()[1]["status"] == "resolved"
    deliveries = alerting.store.list_deliveries(alert_id=stored.id)
    webhook = [(d.event, d.status, d.attempts) for d in deliveries if d.route == "webhook-0"]
    assert webhook == [("firing", "delivered", 3), ("resolved", "delivered", 1)]
    assert alerting.store.dead_letters() == []


def test_silence_stops_notifications_for_matching_alerts(
    alerting: AlertingService, alertmanager: str, receiver: Receiver
) -> None:
    receiver.fail_first = 0
    alerting.add_silence(
        [Matcher("mode_id", "queue_.*", is_regex=True)], ends_ns=time.time_ns() + 3600 * 10**9
    )
    alerting.submit([predict("queue_overflow", 0.9)])
    alerting.submit([predict("db_pool", 0.9)])  # not silenced: the control
    wait_for(lambda: am_alerts(alertmanager, "db_pool"), what="the unsilenced alert")
    wait_for(lambda: receiver.accepted(), what="the unsilenced webhook")
    time.sleep(1.5)
    assert am_alerts(alertmanager, "queue_overflow") == []
    assert [n["alerts"][0]["mode_id"] for n in receiver.accepted()] == ["db_pool"]
    assert {a.mode_id for a in alerting.store.firing_alerts()} == {"db_pool", "queue_overflow"}


def test_feedback_is_stored_for_training(alerting: AlertingService) -> None:
    alerting.submit([predict("db_pool", 0.9)])
    alert = alerting.store.firing_alerts()[0]
    alerting.add_feedback(alert.id, FeedbackKind.PREVENTED, "raised the pool size")
    assert [f.kind for f in alerting.feedback_on(alert.id)] == [FeedbackKind.PREVENTED]
    assert feedback_for_training(alerting.store) == [("db_pool", alert.started_ns, "prevented")]
