"""orders-api: orders taken over HTTP and settled by a pool of worker threads that write each one
to a ledger on a volume of fixed size — the orders lab's system (docs/labs.md).

`POST /api/orders {"product": "P-0001", "qty": 1}` queues the order (at most `QUEUE_SIZE`) and
waits up to `SETTLE_S` for a worker to settle it: 200 when settled, 503 when the queue is full,
504 when no worker settled it in time, 500 when its ledger line could not be written. A worker
settles an order (a few milliseconds), writes it to the ledger, answers, then sends the receipt.

It logs as a Python service writing text does (`2026-12-06 01:02:03,456 WARNING orders.volume:
…`, `logger.exception` tracebacks over several lines), and the lab ships those lines one by one as
a file tailer would: premortem reads the level from each line and folds the traceback.
Everyday trouble a healthy system logs: an order for an unknown product (WARNING) and now and
then a receipt the mail relay refused (ERROR).

Faults (`POST /admin/faults/NAME`, never told to premortem):
- `worker-stall`: the receipt client hangs; every 1 / `stalls_per_s` seconds one more worker
  gets stuck sending a receipt (the supervisor reports workers stuck for over 2 s), until no
  worker is left to settle orders;
- `disk-fill`: a debug dump left on writes `mib_per_s` to the ledger's volume (the watchdog
  warns from 80 % full) until ledger writes fail with ENOSPC.

With `limit` (stalls) or `limit_mib` (dump) a fault stops short of breaking anything: two of the
four workers stuck, the volume at 81 % — its warnings come, the failure does not.
"""

from __future__ import annotations

import argparse
import errno
import itertools
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from premortem.labs.process import NOT_FOUND, FaultJobs, json_handler, lab_route, serve
from premortem.labs.shipping import TextLineShipper, ship

log = logging.getLogger("orders.api")
worker_log = logging.getLogger("orders.worker")
supervisor_log = logging.getLogger("orders.supervisor")
volume_log = logging.getLogger("orders.volume")
receipt_log = logging.getLogger("orders.receipts")
PRODUCTS = 50
QUEUE_SIZE = 100
WORKERS = 4
SETTLE_S = 3.0
STUCK_S = 2.0
MIB = 1024 * 1024
VOLUME_MIB = 64.0
ALREADY_MIB = 44.0  # older ledgers already on the volume
WARN_SHARE = 0.8
LEDGER_LINE = 180  # bytes a ledger entry takes
MOUNT = "/var/lib/orders"


class Volume:
    """The ledger's volume: a fixed size, what the ledgers and any dump hold of it."""

    def __init__(self, size_mib: float = VOLUME_MIB, used_mib: float = ALREADY_MIB) -> None:
        self.size = int(size_mib * MIB)
        self.used = int(used_mib * MIB)
        self.dump = 0
        self._lock = threading.Lock()

    def write(self, nbytes: int) -> None:
        """A ledger entry: all of it, or ENOSPC."""
        with self._lock:
            if self.used + self.dump + nbytes > self.size:
                raise OSError(errno.ENOSPC, "No space left on device", f"{MOUNT}/ledger.log")
            self.used += nbytes

    def dump_into(self, nbytes: int) -> None:
        """The runaway dump writes as much as fits, to the volume's last byte."""
        with self._lock:
            self.dump += max(0, min(nbytes, self.size - self.used - self.dump))

    def share(self) -> float:
        with self._lock:
            return (self.used + self.dump) / self.size

    def remove_dump(self) -> int:
        with self._lock:
            freed, self.dump = self.dump, 0
        return freed


@dataclass(slots=True)
class Order:
    number: int
    product: str
    qty: int
    settled: threading.Event = field(default_factory=threading.Event)
    error: str = ""


@dataclass(slots=True)
class WorkerState:
    name: str
    busy_since: float = 0.0  # monotonic; 0 when idle
    doing: str = ""
    warned_at: float = 0.0


class Orders:
    def __init__(self, volume: Volume, *, seed: int = 0) -> None:
        self.volume = volume
        self.queue: queue.Queue[Order] = queue.Queue(QUEUE_SIZE)
        self.numbers = itertools.count(1000)
        self.rng = random.Random(seed)
        self.workers = [WorkerState(f"orders-worker-{k}") for k in range(1, WORKERS + 1)]
        self.stuck = 0  # how many workers the receipt client hangs (worker-stall)
        self.released = threading.Event()
        self._lock = threading.Lock()

    def place(self, product: str, qty: int) -> tuple[int, dict[str, Any]]:
        started = time.monotonic()
        if not product.startswith("P-") or not 1 <= qty <= 10:
            log.warning("rejected order: product %r qty %d", product, qty)
            return 422, {"error": "unknown product or quantity out of 1..10"}
        if int(product.removeprefix("P-") or 0) > PRODUCTS:
            log.warning("rejected order: unknown product %s", product)
            return 422, {"error": f"unknown product {product}"}
        order = Order(next(self.numbers), product, qty)
        try:
            self.queue.put_nowait(order)
        except queue.Full:
            log.error(
                "order %d rejected: queue full (%d of %d)", order.number, QUEUE_SIZE, QUEUE_SIZE
            )
            return 503, {"error": "too many orders waiting; try again"}
        if not order.settled.wait(SETTLE_S):
            log.error(
                "order %d not settled within %.1f s (%d waiting)",
                order.number, SETTLE_S, self.queue.qsize(),
            )  # fmt: skip
            return 504, {"error": f"order not settled within {SETTLE_S:g} s"}
        if order.error:
            return 500, {"error": f"could not store order: {order.error}"}
        log.info("order %d settled in %.0f ms", order.number, (time.monotonic() - started) * 1000)
        return 200, {"order": order.number, "product": product, "qty": qty}

    def work(self, state: WorkerState, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                order = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            state.busy_since, state.doing = time.monotonic(), f"settling order {order.number}"
            time.sleep(self.rng.uniform(0.004, 0.02))
            try:
                self.volume.write(LEDGER_LINE)
            except OSError as exc:
                worker_log.exception("could not write order %d to the ledger", order.number)
                order.error = f"[Errno {exc.errno}] {exc.strerror}"
            order.settled.set()
            if not order.error:
                state.doing = f"sending the receipt for order {order.number}"
                self._send_receipt(order)
            state.busy_since, state.doing = 0.0, ""

    def stall_next_receipt(self) -> None:
        """The next receipt a worker sends hangs (worker-stall)."""
        with self._lock:
            self.stuck += 1

    def release_stuck(self) -> None:
        """The receipt client recovers: every hung receipt returns, none hangs any more."""
        with self._lock:
            self.stuck = 0
            released, self.released = self.released, threading.Event()
        released.set()

    def _send_receipt(self, order: Order) -> None:
        with self._lock:
            hang, released = self.stuck > 0, self.released
            if hang:
                self.stuck -= 1
        if hang:
            released.wait()  # the receipt client never times out: the worker is gone
            return
        if self.rng.random() < 0.004:
            receipt_log.error(
                "could not send receipt for order %d: mail relay answered 451 4.7.1 "
                "try again later", order.number,
            )  # fmt: skip

    def supervise(self) -> None:
        """Every worker stuck on one thing for over STUCK_S, reported every STUCK_S."""
        now = time.monotonic()
        for state in self.workers:
            since, doing = state.busy_since, state.doing
            if since and now - since > STUCK_S and now - state.warned_at >= STUCK_S:
                state.warned_at = now
                supervisor_log.warning(
                    "worker %s stuck %s for %.1f s", state.name, doing, now - since
                )

    def watch_volume(self, warned: dict[str, float]) -> None:
        share = self.volume.share()
        now = time.monotonic()
        if share >= WARN_SHARE and now - warned.get("at", 0.0) >= 2.0:
            warned["at"] = now
            volume_log.warning(
                "volume %s is %.0f%% full (%.1f of %.1f MiB used)",
                MOUNT, share * 100, share * self.volume.size / MIB, self.volume.size / MIB,
            )  # fmt: skip


class Faults(FaultJobs):
    def __init__(self, orders: Orders) -> None:
        super().__init__()
        self.orders = orders

    def jobs(self) -> dict[str, Callable[[dict[str, Any]], None]]:
        return {"worker-stall": self._stall, "disk-fill": self._dump}

    def clear(self) -> dict[str, Any]:
        self.stop_jobs()
        self.orders.release_stuck()
        freed = self.orders.volume.remove_dump()
        return {"freed_mib": round(freed / MIB, 1)}

    def _stall(self, body: dict[str, Any]) -> None:
        stop = self.stopping
        interval = 1.0 / float(body.get("stalls_per_s", 0.5))
        limit = int(body.get("limit", WORKERS + 1))  # how many receipts hang at most
        for _ in range(limit):
            if stop.wait(interval):
                return
            self.orders.stall_next_receipt()

    def _dump(self, body: dict[str, Any]) -> None:
        stop = self.stopping
        per_tick = int(float(body.get("mib_per_s", 2.0)) * MIB / 10)
        limit = float(body.get("limit_mib", VOLUME_MIB)) * MIB  # the dump's size at most
        written = 0
        while written < limit and not stop.wait(0.1):
            chunk = int(min(per_tick, limit - written))
            self.orders.volume.dump_into(chunk)  # when full it fails quietly: the ledger notices
            written += chunk


def make_route(orders: Orders, faults: Faults) -> Any:
    def route(
        method: str, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if path == "/api/orders" and method == "POST":
            return orders.place(str(body.get("product") or ""), int(body.get("qty") or 0))
        if path.startswith("/api/products/"):
            product = path.removeprefix("/api/products/")
            return 200, {"product": product, "in_stock": True}
        return lab_route(method, path, body, faults) or NOT_FOUND

    return route


def _background(orders: Orders, stop: threading.Event) -> None:
    for state in orders.workers:
        threading.Thread(
            target=orders.work, args=(state, stop), name=state.name, daemon=True
        ).start()
    warned: dict[str, float] = {}
    ticks = 0
    while not stop.wait(0.5):
        orders.supervise()
        orders.watch_volume(warned)
        ticks += 1
        if ticks % 20 == 0:
            log.info(
                "ledger checkpoint: %d orders waiting, volume %.0f%% full",
                orders.queue.qsize(), orders.volume.share() * 100,
            )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m premortem.labs.orders")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--premortem", default="")
    parser.add_argument("--log-file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)
    shipper = TextLineShipper(
        "orders-api", url=args.premortem, path=Path(args.log_file) if args.log_file else None
    )
    ship(["orders"], shipper)
    admin = logging.getLogger("lab.admin")  # local only: premortem is not told about faults
    admin.setLevel(logging.INFO)
    admin.addHandler(logging.StreamHandler())
    orders = Orders(Volume(), seed=args.seed)
    faults = Faults(orders)
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port),
        json_handler(make_route(orders, faults), "orders-api/2.3", log=log),
    )
    log.info("orders-api started on port %d with %d workers", args.port, WORKERS)

    def cleanup() -> None:
        faults.clear()
        shipper.close()

    serve(
        server, parent_pid=args.parent_pid, background=partial(_background, orders), cleanup=cleanup
    )


if __name__ == "__main__":
    main()
