"""Ship a Python service's logs to premortem: a `logging.Handler` that never blocks the app.

    import logging
    from premortem.client import PremortemHandler

    handler = PremortemHandler("http://127.0.0.1:8080", service="checkout")
    logging.getLogger().addHandler(handler)      # ... and at exit: handler.close()

`emit` formats the record and appends it to a bounded in-memory buffer; a background thread sends
batches to premortem's OTLP/HTTP JSON endpoint (`POST /v1/logs`, resource attribute
`service.name`). When premortem is unreachable or answers 429/5xx, the batch is kept and retried
with exponential backoff (honouring `Retry-After`), so a short outage loses nothing; when the
buffer is full the oldest records make room for new ones and are counted in `dropped`. Other 4xx
answers mean the batch itself is bad: it is dropped (counted), never retried. `close()` (called by
`logging.shutdown` at exit) sends what is buffered, bounded by `close_timeout_s`.

Only the standard library is used, so the handler can be copied into any service.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OTLP_PATH = "/v1/logs"
RETRYABLE_STATUS = frozenset({429})


def severity_number(levelno: int) -> int:
    """OTLP severity number (DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21) for a logging level."""
    if levelno >= logging.CRITICAL:
        return 21
    if levelno >= logging.ERROR:
        return 17
    if levelno >= logging.WARNING:
        return 13
    if levelno >= logging.INFO:
        return 9
    return 5


@dataclass(slots=True)
class _Entry:
    time_ns: int
    levelno: int
    levelname: str
    body: str
    logger: str
    thread: str


class SendError(Exception):
    """One batch could not be delivered; `retryable` says whether sending it again may work."""

    def __init__(self, message: str, *, retryable: bool, retry_after_s: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class PremortemHandler(logging.Handler):
    def __init__(
        self,
        url: str,
        *,
        service: str,
        level: int = logging.NOTSET,
        batch_size: int = 500,
        flush_interval_s: float = 0.5,
        max_buffer: int = 10_000,
        timeout_s: float = 5.0,
        max_backoff_s: float = 5.0,
        close_timeout_s: float = 5.0,
        resource_attributes: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(level)
        base = url.rstrip("/")
        self.endpoint = base if base.endswith(OTLP_PATH) else base + OTLP_PATH
        self.service = service
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_buffer = max_buffer
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        self.close_timeout_s = close_timeout_s
        self.resource = {"service.name": service, **(resource_attributes or {})}
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.sent = 0
        self.dropped = 0
        self.retries = 0
        self.last_error: str | None = None
        self._buffer: deque[_Entry] = deque()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._closing = threading.Event()
        self._sender = threading.Thread(target=self._run, name="premortem-log-sender", daemon=True)
        self._sender.start()

    # ------------------------------------------------------------------ the application's side

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = _Entry(
                int(record.created * 1e9),
                record.levelno,
                record.levelname,
                self.format(record),
                record.name,
                record.threadName or "",
            )
        except Exception:
            self.handleError(record)
            return
        with self._lock:
            if len(self._buffer) >= self.max_buffer:
                self._buffer.popleft()  # the newest lines say most about what is happening now
                self.dropped += 1
            self._buffer.append(entry)
            self._idle.clear()
            full = len(self._buffer) >= self.batch_size
        if full:
            self._wake.set()

    @property
    def buffered(self) -> int:
        """Records waiting to be sent (including a batch being retried)."""
        with self._lock:
            return len(self._buffer) + self._in_flight

    def flush(self) -> None:
        """Send what is buffered now, waiting at most `close_timeout_s`."""
        self.wait_sent(self.close_timeout_s)

    def wait_sent(self, timeout_s: float) -> bool:
        """Wait until everything buffered was sent or dropped; False on timeout."""
        self._wake.set()
        return self._idle.wait(timeout_s)

    def close(self) -> None:
        if not self._closing.is_set():
            self._closing.set()
            self._wake.set()
            self._sender.join(self.close_timeout_s + self.timeout_s)
            with self._lock:
                lost = len(self._buffer) + self._in_flight
                self._buffer.clear()
                self._in_flight = 0
            self.dropped += lost
        super().close()

    # ------------------------------------------------------------------ the sender thread

    def _run(self) -> None:
        deadline: float | None = None
        backoff = 0.0
        batch: list[_Entry] = []
        while True:
            if self._closing.is_set() and deadline is None:
                deadline = time.monotonic() + self.close_timeout_s
            if deadline is not None and (time.monotonic() > deadline or not self._pending(batch)):
                return
            if not batch:
                batch = self._take()
                if not batch:
                    self._idle.set()
                    self._wait(self.flush_interval_s)
                    continue
            try:
                self._send(batch)
            except SendError as exc:
                self.last_error = str(exc)
                if not exc.retryable:
                    self._settle(len(batch), sent=False)
                    batch = []
                    continue
                self.retries += 1
                backoff = min(self.max_backoff_s, max(0.1, backoff * 2))
                pause = exc.retry_after_s if exc.retry_after_s is not None else backoff
                self._wait(min(pause * random.uniform(0.8, 1.2), self.max_backoff_s), sleep=True)
                continue
            self._settle(len(batch), sent=True)
            batch, backoff = [], 0.0

    def _pending(self, batch: list[_Entry]) -> bool:
        with self._lock:
            return bool(batch or self._buffer)

    def _wait(self, seconds: float, *, sleep: bool = False) -> None:
        """Sleep until the interval passed, or (unless backing off) a full batch is ready."""
        if sleep:  # backing off: only closing cuts the pause short
            if self._closing.is_set():
                time.sleep(min(seconds, 0.2))
            else:
                self._closing.wait(seconds)
            return
        if self._wake.wait(seconds):
            self._wake.clear()

    def _take(self) -> list[_Entry]:
        with self._lock:
            count = min(self.batch_size, len(self._buffer))
            batch = [self._buffer.popleft() for _ in range(count)]
            self._in_flight = count
            return batch

    def _settle(self, count: int, *, sent: bool) -> None:
        with self._lock:
            self._in_flight = 0
            if sent:
                self.sent += count
            else:
                self.dropped += count
            if not self._buffer:
                self._idle.set()

    def _send(self, batch: list[_Entry]) -> None:
        body = json.dumps(self.payload(batch), separators=(",", ":")).encode()
        request = urllib.request.Request(self.endpoint, data=body, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            retryable = exc.code >= 500 or exc.code in RETRYABLE_STATUS
            raise SendError(
                f"premortem answered {exc.code} {exc.reason}",
                retryable=retryable,
                retry_after_s=_retry_after(exc.headers.get("Retry-After")),
            ) from exc
        except (OSError, TimeoutError) as exc:  # refused, reset, DNS, timeout
            raise SendError(f"cannot reach premortem: {exc}", retryable=True) from exc

    def payload(self, batch: list[_Entry]) -> dict[str, Any]:
        """The OTLP/HTTP JSON request for a batch (formats.md §1)."""
        return {
            "resourceLogs": [
                {
                    "resource": {"attributes": _attributes(self.resource)},
                    "scopeLogs": [
                        {
                            "scope": {"name": "premortem.client"},
                            "logRecords": [_record(entry) for entry in batch],
                        }
                    ],
                }
            ]
        }


def _record(entry: _Entry) -> dict[str, Any]:
    return {
        "timeUnixNano": str(entry.time_ns),
        "severityNumber": severity_number(entry.levelno),
        "severityText": entry.levelname,
        "body": {"stringValue": entry.body},
        "attributes": _attributes({"logger.name": entry.logger, "thread.name": entry.thread}),
    }


def _attributes(values: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"key": k, "value": {"stringValue": v}} for k, v in values.items() if v]


def _retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After: <seconds>` header (an HTTP date is treated as absent)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
