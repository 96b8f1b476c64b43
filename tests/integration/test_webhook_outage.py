"""A webhook receiver that is down, then up: a real HTTP server on 127.0.0.1, no mock.

The firing notification is retried with backoff until it is delivered, the alert resolves, or
the batch is older than `max_age_s`; a receiver is never told "resolved" about an alert it was
never told is firing.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from premortem.alerting import AlertingService, MemoryAlertStore, Route
from premortem.alerting.webhook import WebhookNotifier
from premortem.clock import ManualClock
from premortem.domain import FailureMode, Prediction

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000_000_000
POOL = FailureMode(id="db_pool", name="DB pool exhaustion", severity="warning", service="api")


class Receiver:
    """A webhook receiver on a fixed port that can be started late (connection refused until)."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.events: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        events = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                events.append(orjson.loads(body)["event"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.stop()


def alerting(receiver: Receiver, **options: float) -> tuple[AlertingService, MemoryAlertStore]:
    store = MemoryAlertStore()
    notifier = WebhookNotifier(receiver.url, timeout_s=1.0)
    service = AlertingService(
        store,
        routes=[Route("hook", notifier)],
        modes={"db_pool": POOL}.get,
        clock=ManualClock(T0),
        backoff_s=0.05,
        **options,  # type: ignore[arg-type]
    )
    return service, store


def predict(probability: float, n: int) -> Prediction:
    return Prediction(
        id=f"p{n}",
        time_ns=T0,
        mode_id="db_pool",
        service="api",
        probability=probability,
        horizon_s=600,
    )


def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_a_firing_alert_outlives_an_outage_longer_than_the_old_retry_budget(
    receiver: Receiver,
) -> None:
    service, store = alerting(receiver, max_backoff_s=0.2)
    service.start()
    try:
        service.submit([predict(0.9, 1)])
        time.sleep(2.0)  # five tries with 0.05 s backoff took under a second
        receiver.start()
        assert wait_for(lambda: receiver.events == ["firing"]), receiver.events
        service.submit([predict(0.1, 2)])
        assert wait_for(lambda: receiver.events == ["firing", "resolved"]), receiver.events
    finally:
        service.stop(timeout_s=5)
    assert store.dead_letters() == []


def test_past_the_max_age_the_firing_is_dead_and_its_resolve_is_never_sent(
    receiver: Receiver,
) -> None:
    service, store = alerting(receiver, max_backoff_s=0.1, max_age_s=0.5)
    service.start()
    try:
        service.submit([predict(0.9, 1)])
        assert wait_for(lambda: len(store.dead_letters()) == 1)
        receiver.start()
        service.submit([predict(0.1, 2)])
        assert wait_for(lambda: len(store.list_deliveries()) == 2)
    finally:
        service.stop(timeout_s=5)
    assert receiver.events == [], "a resolve without its firing would confuse the receiver"
    assert [d.event for d in store.list_deliveries()] == ["firing", "resolved"]
    assert all(d.status != "delivered" for d in store.list_deliveries())


def test_an_alert_that_resolves_during_the_outage_stops_the_retries(receiver: Receiver) -> None:
    service, store = alerting(receiver, max_backoff_s=0.1, max_age_s=600)
    service.start()
    try:
        service.submit([predict(0.9, 1)])
        time.sleep(0.3)
        service.submit([predict(0.1, 2)])
        assert wait_for(lambda: len(store.list_deliveries()) == 2)
        receiver.start()
        time.sleep(0.3)
    finally:
        service.stop(timeout_s=5)
    assert receiver.events == []
