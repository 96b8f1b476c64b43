"""The demo service: a small order API over SQLite, run as `python -m premortem.demo.service`.

Requests go through a bounded work queue (worker threads) and a bounded connection pool, and every
request and pool observation is logged through `premortem.client.PremortemHandler` (service name
`shop-api` by default). Admin endpoints inject faults (used by the Chaos Toolkit experiments):

    POST /admin/faults/db-latency       {"latency_ms": 150}
    POST /admin/faults/cpu-hog          {"threads": 2, "duration_s": 10}
    POST /admin/faults/kill-worker      {"count": 2}
    POST /admin/faults/connection-leak  {"interval_s": 3, "max": 5}
    POST /admin/faults/load-spike       {"rps": 150, "duration_s": 10}
    POST /admin/faults/clear            every fault above is undone (rollback)
    POST /admin/db/stop | /admin/db/start   the database refuses connections / is back
    GET  /admin/stats                   pool, queue and fault state as JSON

Admin calls are not shipped to premortem (they go to the local log file only): premortem must
learn from what the service itself shows, not from being told which fault was injected.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from premortem.client import PremortemHandler
from premortem.demo.pool import (
    ConnectionPool,
    DatabaseDown,
    PoolExhausted,
    QueueFull,
    WorkQueue,
)

log = logging.getLogger("shop.http")
monitor_log = logging.getLogger("shop.pool")
admin_log = logging.getLogger("demo.admin")

SLOW_QUERY_S = 0.1
SLOW_REQUEST_S = 0.5
POOL_WAIT_HIGH_MS = 50.0
REQUEST_TIMEOUT_S = 5.0
LEAKY_METHOD = "POST"  # the code path with the leak (Faults.leak_due)


class Faults:
    """The faults currently injected, and how to undo them."""

    def __init__(self, pool: ConnectionPool, work: WorkQueue, base_url: str) -> None:
        self.pool = pool
        self.work = work
        self.base_url = base_url
        self.leak_interval_s = 0.0
        self.leak_max = 0
        self.leaked: set[int] = set()
        self._last_leak = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def leak_due(self, method: str) -> bool:
        """Whether the request finishing now 'forgets' to return its connection.

        Only order creation leaks: a real leak lives in one code path (an early return that skips
        the close), so its "leak suspected" lines always name the same route."""
        with self._lock:
            if method != LEAKY_METHOD:
                return False
            if not self.leak_interval_s or len(self.leaked) >= self.leak_max:
                return False
            now = time.monotonic()
            if now - self._last_leak < self.leak_interval_s:
                return False
            self._last_leak = now
            return True

    def leak(self, interval_s: float, maximum: int) -> None:
        with self._lock:
            self.leak_interval_s, self.leak_max = interval_s, maximum
            self._last_leak = 0.0

    def cpu_hog(self, threads: int, duration_s: float) -> None:
        until = time.monotonic() + duration_s
        for _ in range(threads):
            self._background(lambda: _spin(until, self._stop))

    def load_spike(self, rps: float, duration_s: float) -> None:
        until = time.monotonic() + duration_s
        senders = max(1, int(rps // 10))
        for _ in range(senders):
            self._background(lambda: _hammer(self.base_url, rps / senders, until, self._stop))

    def _background(self, target: Any) -> None:
        thread = threading.Thread(target=target, daemon=True)
        self._threads.append(thread)
        thread.start()

    def clear(self) -> dict[str, Any]:
        self._stop.set()
        for thread in self._threads:
            thread.join(2.0)
        self._threads.clear()
        self._stop = threading.Event()
        with self._lock:
            self.leak_interval_s, self.leak_max = 0.0, 0
            leaked, self.leaked = self.leaked, set()
        self.pool.extra_latency_s = 0.0
        reclaimed = self.pool.reclaim(lambda lease: lease.number in leaked)
        restarted = self.work.restore()
        return {"reclaimed_connections": reclaimed, "restarted_workers": restarted}


def _spin(until: float, stop: threading.Event) -> None:
    while time.monotonic() < until and not stop.is_set():
        sum(i * i for i in range(20_000))


def _hammer(base_url: str, rps: float, until: float, stop: threading.Event) -> None:
    pause = 1.0 / max(rps, 0.1)
    while time.monotonic() < until and not stop.is_set():
        started = time.monotonic()
        try:
            customer = random.randint(1, 500)
            with urllib.request.urlopen(f"{base_url}/api/orders?customer={customer}", timeout=3):
                pass
        except Exception:
            pass
        stop.wait(max(0.0, pause - (time.monotonic() - started)))


class Shop:
    """The application: its pool, queue, faults, and the request logic."""

    def __init__(self, args: argparse.Namespace, base_url: str) -> None:
        self.pool = ConnectionPool(
            args.db,
            size=args.pool_size,
            acquire_timeout_s=args.acquire_timeout_s,
            leak_threshold_s=args.leak_threshold_s,
        )
        self.work = WorkQueue(workers=args.workers, capacity=args.queue)
        self.faults = Faults(self.pool, self.work, base_url)
        self._migrate()

    def _migrate(self) -> None:
        lease = self.pool.acquire("startup", 10)
        try:
            lease.conn.executescript(
                "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer_id INTEGER,"
                " amount REAL, created REAL);"
                "CREATE INDEX IF NOT EXISTS orders_customer ON orders(customer_id);"
            )
            if not lease.conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]:
                rows = [
                    (random.randint(1, 500), random.uniform(5, 500), time.time())
                    for _ in range(5000)
                ]
                lease.conn.executemany(
                    "INSERT INTO orders (customer_id, amount, created) VALUES (?, ?, ?)", rows
                )
            lease.conn.commit()
        finally:
            self.pool.release(lease)

    def orders(self, method: str, customer: int) -> dict[str, Any]:
        """Runs on a worker: one pooled connection, one query."""
        lease = self.pool.acquire(f"{method} /api/orders")
        keep = False
        try:
            started = time.monotonic()
            if method == "POST":
                sql = "INSERT INTO orders (customer_id, amount, created) VALUES (?, ?, ?)"
                self.pool.query(lease, sql, (customer, random.uniform(5, 500), time.time()))
                rows: list[Any] = []
            else:
                sql = (
                    "SELECT id, amount FROM orders WHERE customer_id = ? ORDER BY id DESC LIMIT 20"
                )
                rows = self.pool.query(lease, sql, (customer,))
            took = time.monotonic() - started
            if took > SLOW_QUERY_S:
                log.warning(
                    "slow query: %s took %.0f ms (threshold %.0f ms)",
                    sql.split(" WHERE")[0].split(" VALUES")[0],
                    took * 1000,
                    SLOW_QUERY_S * 1000,
                )
            keep = self.faults.leak_due(method)
            return {"customer": customer, "orders": len(rows)}
        finally:
            if keep:
                self.faults.leaked.add(lease.number)  # a code path that never closes it
            else:
                self.pool.release(lease)

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            lease = self.pool.acquire("GET /health", 1.0)
        except (PoolExhausted, DatabaseDown) as exc:
            return 503, {"status": "unavailable", "reason": str(exc).split(":")[0]}
        try:
            self.pool.query(lease, "SELECT 1")
        except Exception as exc:
            return 503, {"status": "unavailable", "reason": str(exc)}
        finally:
            self.pool.release(lease)
        return 200, {"status": "ok", **self.pool.stats()}

    def stats(self) -> dict[str, Any]:
        return {
            "pool": self.pool.stats(),
            "queue_depth": self.work.depth(),
            "queue_capacity": self.work.capacity,
            "workers": self.work.alive(),
            "leaked": sorted(self.faults.leaked),
            "db_latency_ms": self.pool.extra_latency_s * 1000,
            "db_down": self.pool.down,
        }

    def admin(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        action = path.removeprefix("/admin/")
        admin_log.info("admin %s %s", action, body)
        if action == "faults/db-latency":
            self.pool.extra_latency_s = float(body.get("latency_ms", 150)) / 1000
        elif action == "faults/cpu-hog":
            self.faults.cpu_hog(int(body.get("threads", 2)), float(body.get("duration_s", 10)))
        elif action == "faults/kill-worker":
            self.work.kill(int(body.get("count", 1)))
        elif action == "faults/connection-leak":
            self.faults.leak(float(body.get("interval_s", 3)), int(body.get("max", self.pool.size)))
        elif action == "faults/load-spike":
            self.faults.load_spike(float(body.get("rps", 150)), float(body.get("duration_s", 10)))
        elif action == "faults/clear":
            return {"cleared": True, **self.faults.clear()}
        elif action in ("db/stop", "db/start"):
            self.pool.set_down(action == "db/stop")
        else:
            raise KeyError(action)
        return {"injected": action, **body}


def monitor(shop: Shop, stop: threading.Event, interval_s: float = 1.0) -> None:
    """What the pool and queue look like, once a second (the lines premortem learns from)."""
    while not stop.wait(interval_s):
        stats = shop.pool.stats()
        depth, capacity = shop.work.depth(), shop.work.capacity
        monitor_log.info(
            "pool stats: %d active, %d idle, %d waiting, wait p95 %.1f ms; queue depth %d/%d; "
            "%d workers",
            stats["active"], stats["idle"], stats["waiting"], stats["wait_p95_ms"],
            depth, capacity, shop.work.alive(),
        )  # fmt: skip
        for lease in shop.pool.suspected_leaks():
            monitor_log.warning(
                "connection leak suspected: connection #%d checked out by %s for %.1f s "
                "without being returned (leak detection threshold %.1f s)",
                lease.number, lease.owner, time.monotonic() - lease.taken_at,
                shop.pool.leak_threshold_s,
            )  # fmt: skip
        if stats["idle"] <= 1 and stats["active"] >= stats["size"] - 1:
            monitor_log.warning(
                "pool low: %d of %d connections idle, %d requests waiting",
                stats["idle"], stats["size"], stats["waiting"],
            )  # fmt: skip
        if stats["wait_p95_ms"] > POOL_WAIT_HIGH_MS:
            monitor_log.warning(
                "pool wait high: p95 %.0f ms over the last 3 s (threshold %.0f ms)",
                stats["wait_p95_ms"], POOL_WAIT_HIGH_MS,
            )  # fmt: skip
        if depth > capacity // 2:
            monitor_log.warning(
                "queue depth high: %d/%d requests waiting for a worker", depth, capacity
            )


def make_handler(shop: Shop) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "shop-api/1.0"

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def _route(self, method: str) -> None:
            url = urlsplit(self.path)
            started = time.monotonic()
            try:
                if url.path == "/health":
                    status, body = shop.health()
                elif url.path == "/admin/stats":
                    status, body = 200, shop.stats()
                elif url.path.startswith("/admin/") and method == "POST":
                    status, body = 200, shop.admin(url.path, self._json())
                elif url.path == "/api/orders":
                    status, body = self._orders(method, url.query, started)
                else:
                    status, body = 404, {"error": "not found"}
            except KeyError:
                status, body = 404, {"error": "unknown admin action"}
            except ValueError as exc:
                status, body = 400, {"error": str(exc)}
            self._answer(status, body)

        def _orders(self, method: str, query: str, started: float) -> tuple[int, dict[str, Any]]:
            params = dict(p.partition("=")[::2] for p in query.split("&") if p)
            customer = int(params.get("customer") or random.randint(1, 500))
            try:
                future = shop.work.submit(lambda: shop.orders(method, customer))
                body = future.result(timeout=REQUEST_TIMEOUT_S)
            except QueueFull as exc:
                log.warning("%s: rejecting %s /api/orders with 503", exc, method)
                return 503, {"error": str(exc)}
            except PoolExhausted as exc:
                log.error("%s", exc)
                self._access(method, 503, started, "connection pool exhausted", logging.ERROR)
                return 503, {"error": str(exc)}
            except DatabaseDown as exc:
                log.error("database error: %s", exc)
                self._access(method, 503, started, "database unavailable", logging.ERROR)
                return 503, {"error": str(exc)}
            except TimeoutError:
                self._access(method, 504, started, "request timed out in the queue", logging.ERROR)
                return 504, {"error": "timed out"}
            self._access(method, 200, started, "", logging.INFO)
            return 200, body

        def _access(self, method: str, status: int, started: float, why: str, level: int) -> None:
            took = time.monotonic() - started
            suffix = f": {why}" if why else ""
            log.log(level, "%s /api/orders %d in %.1f ms%s", method, status, took * 1000, suffix)
            if status == 200 and took > SLOW_REQUEST_S:
                log.warning(
                    "slow request: %s /api/orders took %.0f ms (threshold %.0f ms)",
                    method, took * 1000, SLOW_REQUEST_S * 1000,
                )  # fmt: skip

        def _json(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            if not length:
                return {}
            doc = json.loads(self.rfile.read(length))
            if not isinstance(doc, dict):
                raise ValueError("body must be a JSON object")
            return doc

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass  # every request is logged by the application itself

    return Handler


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m premortem.demo.service")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--db", default="shop.db")
    parser.add_argument("--premortem", default="http://127.0.0.1:8080")
    parser.add_argument("--service", default="shop-api")
    parser.add_argument("--log-file", default="")
    parser.add_argument("--pool-size", type=int, default=5)
    parser.add_argument("--acquire-timeout-s", type=float, default=2.0)
    parser.add_argument("--leak-threshold-s", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--queue", type=int, default=50)
    parser.add_argument("--parent-pid", type=int, default=0)
    return parser.parse_args(argv)


def _logging(args: argparse.Namespace) -> PremortemHandler:
    handler = PremortemHandler(args.premortem, service=args.service, flush_interval_s=0.25)
    shop_logger = logging.getLogger("shop")
    shop_logger.setLevel(logging.INFO)
    shop_logger.addHandler(handler)
    local: logging.Handler = (
        logging.FileHandler(args.log_file) if args.log_file else logging.StreamHandler(sys.stderr)
    )
    local.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    for name in ("shop", "demo"):
        logging.getLogger(name).addHandler(local)
        logging.getLogger(name).setLevel(logging.INFO)
    return handler


def _watch_parent(parent_pid: int) -> None:
    """Exit when the process that started us is gone (no orphan keeps the port)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            os._exit(3)


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    handler = _logging(args)
    base_url = f"http://127.0.0.1:{args.port}"
    shop = Shop(args, base_url)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(shop))
    server.daemon_threads = True
    stop = threading.Event()
    threading.Thread(target=monitor, args=(shop, stop), daemon=True).start()
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid,), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    log.info("shop-api listening on %s (pool of %d connections, %d workers)", base_url,
             args.pool_size, args.workers)  # fmt: skip
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
        handler.close()


if __name__ == "__main__":
    main()
