"""supplier-api: the inventory app's downstream dependency, `python -m premortem.labs.supplier`.

    GET  /v1/quote?sku=SKU-0001    a price quote, after the current latency
    POST /admin/latency            {"base_ms": 350, "ramp_ms_per_s": 110, "jitter": 0.35}
    POST /admin/clear              back to its normal 15-40 ms

It logs like a Go service (lowercase levels, `key=value` fields in the message).
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from premortem.labs.process import json_handler, watch_parent
from premortem.labs.shipping import NativeLogShipper, ship

log = logging.getLogger("supplier")
GO_LEVELS = {logging.INFO: "info", logging.WARNING: "warn", logging.ERROR: "error"}


class Latency:
    """Normal latency, or a ramp that grows with the time since it was injected."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.base_ms = 0.0
        self.ramp_ms_per_s = 0.0
        self.jitter = 0.0
        self.since = 0.0
        self._lock = threading.Lock()

    def set(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.base_ms = float(body.get("base_ms", 350))
            self.ramp_ms_per_s = float(body.get("ramp_ms_per_s", 110))
            self.jitter = float(body.get("jitter", 0.35))
            self.since = time.monotonic()

    def clear(self) -> None:
        with self._lock:
            self.base_ms = self.ramp_ms_per_s = self.jitter = 0.0

    def next_s(self) -> float:
        with self._lock:
            if not self.base_ms:
                return self.rng.uniform(0.015, 0.040)
            ms = self.base_ms + self.ramp_ms_per_s * (time.monotonic() - self.since)
            return ms * self.rng.uniform(1 - self.jitter, 1 + self.jitter) / 1000


def make_route(latency: Latency) -> Any:
    def route(
        method: str, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if path == "/v1/quote":
            started = time.monotonic()
            time.sleep(latency.next_s())
            sku = query.get("sku", "")
            took_ms = (time.monotonic() - started) * 1000
            log.info("GET /v1/quote sku=%s status=200 duration=%.0fms", sku, took_ms)
            return 200, {"sku": sku, "price": round(10 + sum(map(ord, sku)) % 900 / 10, 2)}
        if path == "/health":
            return 200, {"status": "ok"}
        if path == "/admin/latency" and method == "POST":
            latency.set(body)
            return 200, {"latency": body}
        if path == "/admin/clear" and method == "POST":
            latency.clear()
            return 200, {"cleared": True}
        return 404, {"error": "not found"}

    return route


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m premortem.labs.supplier")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--premortem", default="")
    parser.add_argument("--log-file", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)
    shipper = NativeLogShipper(
        "supplier-api", url=args.premortem, path=args.log_file, level_names=GO_LEVELS
    )
    ship(["supplier"], shipper)
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port),
        json_handler(make_route(Latency(args.seed)), "supplier-api/1.4", log=log),
    )
    server.daemon_threads = True
    watch_parent(args.parent_pid)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    log.info("listening addr=127.0.0.1:%d", args.port)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        shipper.close()


if __name__ == "__main__":
    main()
