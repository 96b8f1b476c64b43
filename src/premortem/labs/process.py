"""What the lab's processes share: a JSON HTTP handler, and exiting when their parent is gone."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

# (method, path, query, body) -> (status, answer)
Route = Callable[[str, str, dict[str, str], dict[str, Any]], tuple[int, dict[str, Any]]]


class FaultSwitch(Protocol):
    def inject(self, name: str, body: dict[str, Any]) -> None: ...  # KeyError: no such fault

    def clear(self) -> dict[str, Any]: ...


def fault_admin(path: str, body: dict[str, Any], faults: FaultSwitch) -> tuple[int, dict[str, Any]]:
    """`POST /admin/faults/NAME` injects a fault, `/admin/faults/clear` rolls every one back;
    logged on the local `lab.admin` logger only (premortem is never told about faults)."""
    name = path.removeprefix("/admin/faults/")
    logging.getLogger("lab.admin").info("admin %s %s", name, body)
    if name == "clear":
        return 200, {"cleared": True, **faults.clear()}
    try:
        faults.inject(name, body)
    except KeyError:
        return 404, {"error": f"unknown fault {name}"}
    return 200, {"injected": name, **body}


def lab_route(
    method: str, path: str, body: dict[str, Any], faults: FaultSwitch
) -> tuple[int, dict[str, Any]] | None:
    """What every lab app answers besides its own API: `/health` and the fault admin."""
    if path == "/health":
        return 200, {"status": "ok"}
    if path.startswith("/admin/faults/") and method == "POST":
        return fault_admin(path, body, faults)
    return None


NOT_FOUND = (404, {"error": "not found"})


class FaultJobs:
    """Faults that run as jobs on threads of their own until rolled back: a subclass says which
    job each fault is (`jobs`); a job runs until `stopping` is set, and `stop_jobs` (in the
    subclass's `clear`) sets it, waits for every job and gets ready for the next fault."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def jobs(self) -> dict[str, Callable[[dict[str, Any]], None]]:
        raise NotImplementedError

    def inject(self, name: str, body: dict[str, Any]) -> None:
        job = self.jobs()[name]  # KeyError: no such fault (fault_admin answers 404)
        # Named after what the job does ("job-export"), never after the fault: a thread name
        # can reach the logs (a leak report names the thread that took the connection).
        label = f"job-{getattr(job, '__name__', 'job').lstrip('_')}"
        thread = threading.Thread(target=job, args=(body,), name=label, daemon=True)
        self._threads.append(thread)
        thread.start()

    def stop_jobs(self) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(10)
        self._threads.clear()
        self.stopping = threading.Event()


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


def serve(
    server: ThreadingHTTPServer,
    *,
    parent_pid: int,
    background: Callable[[threading.Event], None],
    cleanup: Callable[[], None],
) -> None:
    """Serve a lab app until SIGTERM or its parent is gone, with `background(stop)` on a thread
    of its own; `stop` is set and `cleanup()` runs on the way out."""
    server.daemon_threads = True
    stop = threading.Event()
    threading.Thread(target=background, args=(stop,), daemon=True).start()
    watch_parent(parent_pid)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        stop.set()
        cleanup()
        server.server_close()
