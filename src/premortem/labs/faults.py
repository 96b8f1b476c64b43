"""The inventory app's injectable faults and its once-a-second memory monitor.

Each fault has a precursor phase and then a failure, several seconds apart, by how it ramps:

- lock contention: a restock batch holds row locks for longer and longer (0.3 s, growing by
  0.35 s every second): lock waits are logged with growing wait times, and once a hold outlasts
  `lock_timeout` (2 s), reservations are cancelled and checkouts fail.
- memory pressure: the price cache stops evicting and a refresh job fills it (5 MiB/s): memory
  warnings with rising usage, then allocation failures, then the worker is OOM-restarted.
(The slow dependency is injected in supplier-api itself.)
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from premortem.labs.cache import MIB, OutOfMemory
from premortem.labs.locks import pg

if TYPE_CHECKING:
    from premortem.labs.inventory import Inventory

memory_log = logging.getLogger("com.acme.inventory.MemoryMonitor")
refresh_log = logging.getLogger("com.acme.inventory.PriceRefreshJob")
MEMORY_WARN = 0.40
GC_WARN = 0.70


class Faults:
    def __init__(self, app: Inventory) -> None:
        self.app = app
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def inject(self, name: str, body: dict[str, Any]) -> None:
        if name == "lock-contention":
            rows = int(body.get("rows", 8))
            hold_s, ramp = float(body.get("hold_s", 0.3)), float(body.get("ramp_s_per_s", 0.35))
            self._background(lambda stop: self._restock(stop, rows, hold_s, ramp))
        elif name == "memory-pressure":
            self.app.cache.evicting = False
            rate = float(body.get("mib_per_s", 5.0))
            self._background(lambda stop: self._refresh(stop, rate))
        else:
            raise KeyError(name)

    def clear(self) -> dict[str, Any]:
        self._stop.set()
        for thread in self._threads:
            thread.join(10.0)
        stopped = len(self._threads)
        self._threads.clear()
        self._stop = threading.Event()
        self.app.cache.evicting = True
        self.app.cache.trim()
        return {"stopped": stopped}

    def _background(self, target: Any) -> None:
        stop = self._stop
        thread = threading.Thread(target=target, args=(stop,), daemon=True)
        self._threads.append(thread)
        thread.start()

    def _restock(self, stop: threading.Event, rows: int, hold_s: float, ramp: float) -> None:
        """A batch transaction that locks the busiest rows and holds them longer each time."""
        skus = [f"SKU-{n:04d}" for n in range(1, rows + 1)]
        started = time.monotonic()
        while not stop.is_set():
            txn = self.app.locks.begin()
            began = time.monotonic()
            hold = hold_s + ramp * (began - started)
            try:
                for sku in skus:
                    self.app.locks.lock(txn, sku, "restock")
                marks = ",".join("?" * len(skus))
                self.app.db().execute(
                    f"UPDATE stock SET on_hand = on_hand + 10 WHERE sku IN ({marks})", skus
                )
                stop.wait(hold)
            finally:
                self.app.locks.end(txn)
            took_ms = (time.monotonic() - began) * 1000
            pg(
                "LOG",
                f"duration: {took_ms:.3f} ms  statement: UPDATE stock SET on_hand = on_hand + 10 "
                "WHERE sku = ANY($1) /* restock batch */",
                pid=txn.pid,
            )
            stop.wait(0.05)

    def _refresh(self, stop: threading.Event, mib_per_s: float) -> None:
        """A price refresh job filling the cache (which no longer evicts) at a steady rate."""
        entry = 256 * 1024
        pause = entry / (mib_per_s * MIB)
        count = 0
        while not stop.wait(pause):
            count += 1
            try:
                self.app.cache.put(f"refresh:{count}", entry)
            except OutOfMemory as exc:
                refresh_log.error("price refresh failed: java.lang.OutOfMemoryError: %s", exc)
                self.app.allocation_failed()


def monitor(app: Inventory, stop: threading.Event, interval_s: float = 1.0) -> None:
    """Heap usage once a second, with warnings when it runs high."""
    limit = app.cache.heap_limit_bytes
    while not stop.wait(interval_s):
        used = app.cache.used_bytes
        share = used / limit
        args = (used / MIB, limit / MIB, share * 100, len(app.cache))
        memory_log.info("heap usage %.1f MiB of %.0f MiB (%.0f%%), price cache %d entries", *args)
        if share > GC_WARN:
            memory_log.warning(
                "GC overhead limit approaching: heap %.1f MiB of %.0f MiB (%.0f%%) after full GC, "
                "%d cache entries not collectable",
                *args,
            )
        elif share > MEMORY_WARN:
            memory_log.warning(
                "memory pressure: heap %.1f MiB of %.0f MiB (%.0f%%), price cache %d entries "
                "above its budget",
                *args,
            )
