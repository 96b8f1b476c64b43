"""Servers the demo runs in its own process: premortem (uvicorn in a thread) and a webhook receiver.

with PremortemServer(settings) as server:   # returns once /healthz answers (or raises)
    server.url                              # http://127.0.0.1:PORT
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx

from premortem.config import Settings
from premortem.errors import PremortemError


class DemoError(PremortemError):
    """The demo cannot go on; the message says why in one line."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on the port now (as uvicorn does: TIME_WAIT is no obstacle)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


class PremortemServer:
    """premortem's FastAPI app served by uvicorn on a background thread."""

    def __init__(self, settings: Settings, *, start_timeout_s: float = 30.0) -> None:
        import uvicorn

        from premortem.service.app import create_app

        self.settings = settings
        self.url = f"http://127.0.0.1:{settings.port}"
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=settings.port, log_level="error", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="premortem-http", daemon=True)
        self._start_timeout_s = start_timeout_s

    def start(self) -> PremortemServer:
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise DemoError(f"premortem could not start on {self.url} (is the port taken?)")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise DemoError(f"premortem did not answer on {self.url} within {self._start_timeout_s} s")

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def __enter__(self) -> PremortemServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class WebhookReceiver:
    """Receives premortem's alert webhooks and remembers when each arrived (wall clock, ns)."""

    def __init__(self) -> None:
        self.received: list[tuple[int, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = {"unparsed": body[:1000].decode(errors="replace")}
                receiver.add(time.time_ns(), doc)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="demo-webhook", daemon=True
        )

    def add(self, arrived_ns: int, doc: dict[str, Any]) -> None:
        with self._lock:
            self.received.append((arrived_ns, doc))
        self._arrived.set()

    def firing(self) -> list[tuple[int, dict[str, Any]]]:
        """(arrival time, alert) for every firing alert received, oldest first."""
        with self._lock:
            batches = list(self.received)
        return [
            (arrived, alert)
            for arrived, doc in batches
            for alert in doc.get("alerts") or []
            if isinstance(alert, dict) and alert.get("state", "firing") == "firing"
        ]

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
