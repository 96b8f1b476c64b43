"""inventory-api: an order-taking service, `python -m premortem.labs.inventory`.

    POST /api/checkout {"sku": "SKU-0003", "qty": 1}   reserve stock (row lock + SQLite), get a
                                                       quote from supplier-api, cache the price
    GET  /api/items/SKU-0003                           stock and cached price
    GET  /health
    POST /admin/faults/lock-contention  {"hold_s": 0.3, "ramp_s_per_s": 0.35, "rows": 8}
    POST /admin/faults/memory-pressure  {"mib_per_s": 5}
    POST /admin/faults/clear            every fault above is undone (rollback)

The application logs like a Java service (`INFO`/`WARN`/`ERROR`, class-named loggers) as
`inventory-api`; its embedded database logs like PostgreSQL (`LOG`/`ERROR` with `DETAIL`,
`CONTEXT` and `STATEMENT` lines) as `inventory-db`. Admin calls are never shipped to premortem.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from premortem.labs.cache import MIB, OutOfMemory, PriceCache
from premortem.labs.locks import LockTimeout, RowLocks, pg
from premortem.labs.process import NOT_FOUND, json_handler, lab_route, serve
from premortem.labs.shipping import NativeLogShipper, ship

checkout_log = logging.getLogger("com.acme.inventory.CheckoutController")
supplier_log = logging.getLogger("com.acme.inventory.SupplierClient")
memory_log = logging.getLogger("com.acme.inventory.MemoryMonitor")
JAVA_LEVELS = {logging.INFO: "INFO", logging.WARNING: "WARN", logging.ERROR: "ERROR"}
SKUS = [f"SKU-{n:04d}" for n in range(1, 301)]
KNOWN_SKUS = frozenset(SKUS)
RESERVE = "UPDATE stock SET reserved = reserved + $1 WHERE sku = $2"
RESTOCK = "UPDATE stock SET on_hand = on_hand + 10 WHERE sku = ANY($1) /* restock batch */"
QUOTE_ENTRY_BYTES = 64 * 1024
SLOW_QUERY_S = 0.3
SLOW_CALL_S = 0.25
OOM_RESTART_AFTER = 3  # allocation failures before the worker is killed and restarted
RESTART_S = 1.0  # checkouts are refused while the worker restarts


class SupplierTimeout(Exception):
    pass


class Supplier:
    """The HTTP client of supplier-api: per-attempt timeout, retries, slow-call warnings."""

    def __init__(self, url: str, *, timeout_s: float = 1.0, attempts: int = 3) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.attempts = attempts

    def quote(self, sku: str) -> None:
        for attempt in range(1, self.attempts + 1):
            started = time.monotonic()
            try:
                with urllib.request.urlopen(
                    f"{self.url}/v1/quote?sku={sku}", timeout=self.timeout_s
                ) as answer:
                    answer.read()
            except (TimeoutError, urllib.error.URLError, OSError) as exc:
                supplier_log.warning(
                    "call to supplier-api GET /v1/quote failed after %d ms (%s); retrying, "
                    "attempt %d of %d",
                    (time.monotonic() - started) * 1000, type(exc).__name__, attempt + 1,
                    self.attempts,
                )  # fmt: skip
                time.sleep(0.05 * attempt)
                continue
            took = time.monotonic() - started
            if took > SLOW_CALL_S:
                supplier_log.warning(
                    "slow call to supplier-api GET /v1/quote: %d ms (threshold %d ms)",
                    took * 1000, SLOW_CALL_S * 1000,
                )  # fmt: skip
            return
        raise SupplierTimeout(
            f"supplier-api did not answer within {self.timeout_s * 1000:.0f} ms "
            f"in {self.attempts} attempts"
        )


class Inventory:
    def __init__(self, db_path: Path, supplier: Supplier) -> None:
        self.db_path = db_path
        self.supplier = supplier
        self.locks = RowLocks()
        self.cache = PriceCache()
        self.oom_failures = 0
        self.restarting_until = 0.0
        self._local = threading.local()
        self._oom_lock = threading.Lock()
        self._migrate()
        for sku in SKUS:
            self.cache.put(f"quote:{sku}", QUOTE_ENTRY_BYTES)

    def db(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.db_path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    def _migrate(self) -> None:
        db = self.db()
        db.execute(
            "CREATE TABLE IF NOT EXISTS stock (sku TEXT PRIMARY KEY, on_hand INTEGER, "
            "reserved INTEGER)"
        )
        db.executemany("INSERT OR IGNORE INTO stock VALUES (?, 1000000, 0)", [(s,) for s in SKUS])

    def checkout(self, sku: str, qty: int) -> tuple[int, dict[str, Any]]:
        started = time.monotonic()
        if qty <= 0 or sku not in KNOWN_SKUS:  # a client's mistake, not the service's
            why = f"quantity {qty} is not valid" if qty <= 0 else f"unknown sku {sku}"
            checkout_log.error("checkout rejected: %s (sku=%s)", why, sku)
            return (422 if qty <= 0 else 404), {"error": why}
        if started < self.restarting_until:
            return self._failed(503, sku, "worker unavailable: restarting after OOM kill", started)
        try:
            self.reserve(sku, qty)
            self.supplier.quote(sku)
            self.cache_price(sku)
        except LockTimeout as exc:
            return self._failed(503, sku, f"could not reserve stock: {exc}", started)
        except SupplierTimeout as exc:
            return self._failed(504, sku, f"no quote: {exc}", started)
        except OutOfMemory as exc:
            return self._failed(503, sku, f"java.lang.OutOfMemoryError: {exc}", started)
        took_ms = (time.monotonic() - started) * 1000
        checkout_log.info("checkout sku=%s qty=%d completed in %d ms", sku, qty, took_ms)
        return 200, {"sku": sku, "reserved": qty}

    def _failed(self, status: int, sku: str, why: str, started: float) -> tuple[int, Any]:
        took_ms = (time.monotonic() - started) * 1000
        checkout_log.error("checkout sku=%s failed after %d ms: %s", sku, took_ms, why)
        return status, {"error": why}

    def reserve(self, sku: str, qty: int) -> None:
        txn = self.locks.begin()
        started = time.monotonic()
        try:
            self.locks.lock(txn, sku, RESERVE.replace("$2", f"'{sku}'"))
            db = self.db()
            db.execute("UPDATE stock SET reserved = reserved + ? WHERE sku = ?", (qty, sku))
        finally:
            self.locks.end(txn)
        took = time.monotonic() - started
        if took > SLOW_QUERY_S:
            checkout_log.warning(
                "slow query: reserve stock for sku=%s took %d ms (threshold %d ms)",
                sku, took * 1000, SLOW_QUERY_S * 1000,
            )  # fmt: skip

    def cache_price(self, sku: str) -> None:
        try:
            self.cache.put(f"quote:{sku}", QUOTE_ENTRY_BYTES)
        except OutOfMemory:
            self.allocation_failed()
            raise

    def allocation_failed(self) -> None:
        """After a few allocation failures the worker is killed and restarted, heap emptied."""
        with self._oom_lock:
            self.oom_failures += 1
            if self.oom_failures < OOM_RESTART_AFTER:
                return
            self.oom_failures = 0
        used = self.cache.used_bytes / MIB
        memory_log.error(
            "worker killed by the OOM killer: heap %.1f MiB of %.0f MiB; restarting worker",
            used, self.cache.heap_limit_bytes / MIB,
        )  # fmt: skip
        self.restarting_until = time.monotonic() + RESTART_S
        dropped = self.cache.drop_all()
        memory_log.info("worker restarted, %d cache entries lost", dropped)

    def item(self, sku: str) -> tuple[int, dict[str, Any]]:
        row = self.db().execute("SELECT on_hand, reserved FROM stock WHERE sku = ?", (sku,))
        found = row.fetchone()
        if found is None:
            return 404, {"error": f"unknown sku {sku}"}
        return 200, {"sku": sku, "available": found[0] - found[1], "cached": self.cache.get(sku)}


def make_route(app: Inventory, faults: Any) -> Any:
    def route(
        method: str, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if path == "/api/checkout" and method == "POST":
            qty = body.get("qty")
            return app.checkout(str(body.get("sku") or SKUS[0]), int(1 if qty is None else qty))
        if path.startswith("/api/items/"):
            return app.item(path.removeprefix("/api/items/"))
        return lab_route(method, path, body, faults) or NOT_FOUND

    return route


def _logging(args: argparse.Namespace) -> NativeLogShipper:
    shipper = NativeLogShipper(
        "inventory-api", url=args.premortem, path=args.log_file, level_names=JAVA_LEVELS
    )
    ship(["com.acme", "inventory.db"], shipper)
    admin = logging.getLogger("lab.admin")  # local only: premortem is not told about faults
    admin.setLevel(logging.INFO)
    admin.addHandler(logging.StreamHandler())
    return shipper


def main(argv: list[str] | None = None) -> None:
    from premortem.labs.faults import Faults, monitor

    parser = argparse.ArgumentParser(prog="python -m premortem.labs.inventory")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--supplier", required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--premortem", default="")
    parser.add_argument("--log-file", type=Path)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)
    shipper = _logging(args)
    app = Inventory(args.db, Supplier(args.supplier))
    faults = Faults(app)
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port),
        json_handler(make_route(app, faults), "inventory-api/2.3", log=checkout_log),
    )
    checkout_log.info("inventory-api started on port %d", args.port)
    pg("LOG", "database system is ready to accept connections")

    def cleanup() -> None:
        faults.clear()
        shipper.close()

    serve(server, parent_pid=args.parent_pid, background=partial(monitor, app), cleanup=cleanup)


if __name__ == "__main__":
    main()
