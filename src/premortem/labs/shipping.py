"""Ships a process's log records to premortem as native JSON (`POST /api/v1/logs`) and/or to a
local JSON-lines file, from a background thread: `emit` only appends to a bounded buffer.

Each record carries the level name its component really uses (`LOG`, `WARN`, `info`, ...), not
OpenTelemetry's: a caller passes `extra={"severity": "LOG", "service": "inventory-db",
"attrs": {...}}` to override the defaults.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MAX_BUFFER = 20_000
BATCH = 500


class NativeLogShipper(logging.Handler):
    def __init__(
        self,
        service: str,
        *,
        url: str = "",
        path: Path | None = None,
        level_names: Mapping[int, str] | None = None,
        flush_interval_s: float = 0.25,
    ) -> None:
        super().__init__()
        self.service = service
        self.endpoint = url.rstrip("/") + "/api/v1/logs" if url else ""
        self.path = path
        self.level_names = dict(level_names or {})
        self.sent = 0
        self.dropped = 0
        self._buffer: deque[dict[str, Any]] = deque(maxlen=MAX_BUFFER)
        self._stop = threading.Event()
        self._interval_s = flush_interval_s
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._buffer.append(self.native(record))
        except Exception:
            self.handleError(record)

    def native(self, record: logging.LogRecord) -> dict[str, Any]:
        """One native premortem log record."""
        attributes = {"logger": record.name, "thread": record.threadName}
        attributes.update(getattr(record, "attrs", {}))
        return {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "service": getattr(record, "service", self.service),
            "severity_text": getattr(record, "severity", None)
            or self.level_names.get(record.levelno, record.levelname),
            "body": record.getMessage(),
            "attributes": attributes,
        }

    def raw(self, body: str, timestamp: str) -> None:
        """A line as a log shipper tailing a file sends it: its own time, no level (premortem
        reads the level from the line and folds continuation lines into their message)."""
        self._buffer.append({"timestamp": timestamp, "service": self.service, "body": body})

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.flush()
        self.flush()

    def flush(self) -> None:
        while self._buffer:
            batch = [self._buffer.popleft() for _ in range(min(BATCH, len(self._buffer)))]
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as out:
                    out.writelines(json.dumps(r) + "\n" for r in batch)
            if self.endpoint:
                self._post(batch)

    def _post(self, batch: list[dict[str, Any]]) -> None:
        data = json.dumps(batch).encode()
        for _attempt in range(5):
            request = urllib.request.Request(
                self.endpoint, data=data, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=10):
                    self.sent += len(batch)
                    return
            except (urllib.error.URLError, OSError):
                self._stop.wait(0.2)
        self.dropped += len(batch)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(5.0)
        super().close()


class TextLineShipper(NativeLogShipper):
    """A service that logs text lines (Python's `%(asctime)s %(levelname)s %(name)s: …`, UTC),
    shipped as a tailer of its log file sends them: every line a record of its own with the
    message's time and no level, a traceback's lines included."""

    def __init__(self, service: str, **kwargs: Any) -> None:
        super().__init__(service, **kwargs)
        self.setFormatter(_utc_text_format())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stamp = datetime.fromtimestamp(record.created, UTC).isoformat()
            for line in self.format(record).splitlines():
                self.raw(line, stamp)
        except Exception:
            self.handleError(record)


def _utc_text_format() -> logging.Formatter:
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    formatter.converter = time.gmtime
    return formatter


def ship(logger_names: list[str], shipper: NativeLogShipper) -> None:
    """Attach the shipper to these loggers, at INFO, without propagation to the root."""
    for name in logger_names:
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(shipper)
        logger.propagate = False
