"""What the lab's processes share: a JSON HTTP handler, and exiting when their parent is gone."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# (method, path, query, body) -> (status, answer)
Route = Callable[[str, str, dict[str, str], dict[str, Any]], tuple[int, dict[str, Any]]]


def json_handler(
    route: Route, name: str, *, log: logging.Logger | None = None
) -> type[BaseHTTPRequestHandler]:
    """`log` gets a warning when a client went away before its answer was written."""

    class Handler(BaseHTTPRequestHandler):
        server_version = name
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length)) if length else {}
                status, answer = route(method, url.path, dict(parse_qsl(url.query)), body)
            except (ValueError, TypeError) as exc:
                status, answer = 400, {"error": str(exc)}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            try:
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError) as exc:
                if log is not None:
                    log.warning("write response for %s %s: %s", method, url.path, exc.strerror)
                self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass  # the application logs its own requests

    return Handler


def watch_parent(parent_pid: int) -> None:
    """Exit when the process that started us is gone (no orphan keeps its port)."""

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(3)

    if parent_pid:
        threading.Thread(target=watch, name="parent-watch", daemon=True).start()
