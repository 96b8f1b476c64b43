"""PremortemHandler against a local OTLP receiver that can fail on demand."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from premortem.client import PremortemHandler, severity_number


class Receiver:
    """Collects OTLP JSON bodies; answers `fail_with` (a status) while it is set."""

    def __init__(self, port: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail_with: int | None = None
        self.retry_after: str | None = None
        self.attempts = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.attempts += 1
                    status = receiver.fail_with
                    if status is None:
                        receiver.bodies.append(json.loads(body))
                self.send_response(status or 200)
                if status and receiver.retry_after:
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def lines(self) -> list[str]:
        with self.lock:
            return [
                r["body"]["stringValue"]
                for body in self.bodies
                for rl in body["resourceLogs"]
                for sl in rl["scopeLogs"]
                for r in sl["logRecords"]
            ]

    def close(self) -> None:
        # Bounded: a CI run once hung here for good in `shutdown()` (its serve_forever thread
        # gone); a receiver that does not stop in 10 s is left to the process's exit (daemon).
        stopper = threading.Thread(target=self.server.shutdown, daemon=True)
        stopper.start()
        stopper.join(10)
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _logger(handler: logging.Handler, name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


def _wait(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_batches_reach_the_otlp_endpoint_with_the_service_name(receiver: Receiver) -> None:
    handler = PremortemHandler(receiver.url, service="checkout", flush_interval_s=0.05)
    log = _logger(handler, "t.batches")
    for i in range(1200):
        log.warning("request %d took %d ms", i, i % 50)
    handler.close()
    assert receiver.lines() == [f"request {i} took {i % 50} ms" for i in range(1200)]
    assert handler.sent == 1200 and handler.dropped == 0
    resource = receiver.bodies[0]["resourceLogs"][0]["resource"]["attributes"]
    assert {"key": "service.name", "value": {"stringValue": "checkout"}} in resource
    record = receiver.bodies[0]["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    assert record["severityNumber"] == 13 and record["severityText"] == "WARNING"
    assert int(record["timeUnixNano"]) > 1_600_000_000 * 10**9
    assert (
        max(len(b["resourceLogs"][0]["scopeLogs"][0]["logRecords"]) for b in receiver.bodies) <= 500
    )


@pytest.mark.parametrize("status", [503, 500, 429])
def test_a_short_outage_loses_nothing(receiver: Receiver, status: int) -> None:
    receiver.fail_with = status
    handler = PremortemHandler(
        receiver.url, service="svc", flush_interval_s=0.05, max_backoff_s=0.2
    )
    log = _logger(handler, f"t.outage{status}")
    for i in range(100):
        log.info("line %d", i)
    _wait(lambda: receiver.attempts >= 3)
    receiver.fail_with = None
    for i in range(100, 150):
        log.info("line %d", i)
    assert handler.wait_sent(10)
    handler.close()
    assert receiver.lines() == [f"line {i}" for i in range(150)]
    assert handler.retries >= 3 and handler.dropped == 0 and handler.sent == 150


def test_connection_refused_is_retried_until_the_server_is_back() -> None:
    down = Receiver()
    port = down.port
    down.close()  # the port is free again: connections are refused
    handler = PremortemHandler(
        f"http://127.0.0.1:{port}", service="svc", flush_interval_s=0.05, max_backoff_s=0.2
    )
    log = _logger(handler, "t.refused")
    log.error("written while premortem is down")
    _wait(lambda: handler.retries >= 2)
    assert "cannot reach premortem" in (handler.last_error or "")
    back = Receiver(port)
    try:
        assert handler.wait_sent(10)
        handler.close()
        assert back.lines() == ["written while premortem is down"]
        assert handler.dropped == 0
    finally:
        back.close()


def test_other_client_errors_drop_the_batch_without_retry(receiver: Receiver) -> None:
    receiver.fail_with = 400
    handler = PremortemHandler(receiver.url, service="svc", flush_interval_s=0.05)
    log = _logger(handler, "t.bad")
    for i in range(10):
        log.info("bad %d", i)
    assert handler.wait_sent(5)
    attempts = receiver.attempts
    time.sleep(0.3)
    assert receiver.attempts == attempts == 1
    assert handler.dropped == 10 and handler.sent == 0 and handler.retries == 0
    assert "400" in (handler.last_error or "")
    handler.close()


def test_a_full_buffer_drops_the_oldest_and_counts_them(receiver: Receiver) -> None:
    receiver.fail_with = 503
    handler = PremortemHandler(
        receiver.url,
        service="svc",
        flush_interval_s=0.05,
        max_buffer=100,
        batch_size=10,
        max_backoff_s=0.1,
    )
    log = _logger(handler, "t.full")
    for i in range(500):
        log.info("n %d", i)
    assert handler.dropped >= 390  # 500 - buffer (100) - one batch in flight (10)
    receiver.fail_with = None
    assert handler.wait_sent(10)
    handler.close()
    lines = receiver.lines()
    assert lines[-1] == "n 499" and len(lines) == 500 - handler.dropped
    assert handler.sent + handler.dropped == 500


def test_emit_never_waits_on_the_network(receiver: Receiver) -> None:
    receiver.fail_with = 503
    handler = PremortemHandler(receiver.url, service="svc", max_buffer=1000, timeout_s=5)
    log = _logger(handler, "t.fast")
    started = time.perf_counter()
    for i in range(5000):
        log.info("fast %d", i)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"5000 emits took {elapsed:.2f} s"
    handler.close_timeout_s = 0.2
    handler.close()
    assert handler.sent + handler.dropped == 5000


def test_close_gives_up_after_its_timeout_when_premortem_stays_down(receiver: Receiver) -> None:
    receiver.fail_with = 503
    handler = PremortemHandler(
        receiver.url, service="svc", flush_interval_s=0.05, close_timeout_s=0.5
    )
    log = _logger(handler, "t.close")
    log.info("never delivered")
    started = time.monotonic()
    handler.close()
    assert time.monotonic() - started < 3
    assert handler.dropped == 1 and handler.sent == 0


def test_retry_after_is_honoured(receiver: Receiver) -> None:
    receiver.fail_with = 429
    receiver.retry_after = "1"
    handler = PremortemHandler(receiver.url, service="svc", flush_interval_s=0.05)
    log = _logger(handler, "t.retry_after")
    log.info("slow down")
    _wait(lambda: receiver.attempts >= 1)
    time.sleep(0.5)
    assert receiver.attempts == 1  # still waiting out Retry-After
    receiver.fail_with = None
    assert handler.wait_sent(5)
    handler.close()
    assert receiver.lines() == ["slow down"]


def test_severity_numbers_follow_otlp() -> None:
    assert [severity_number(x) for x in (10, 20, 30, 40, 50)] == [5, 9, 13, 17, 21]
