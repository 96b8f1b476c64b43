"""The inventory app's price cache in a fixed memory budget, as a JVM or Go heap with a limit.

Entries are real byte buffers. The cache evicts least-recently-used entries beyond its own budget;
when eviction is broken (the memory-pressure fault) it grows until an allocation would exceed the
heap limit, which raises `OutOfMemory` as the runtime would.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

MIB = 1024 * 1024


class OutOfMemory(Exception):
    """An allocation would exceed the heap limit."""


class PriceCache:
    def __init__(self, *, heap_limit_bytes: int = 64 * MIB, budget_bytes: int = 16 * MIB) -> None:
        self.heap_limit_bytes = heap_limit_bytes
        self.budget_bytes = budget_bytes
        self.evicting = True
        self._entries: OrderedDict[str, bytearray] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

    def put(self, key: str, size: int) -> None:
        with self._lock:
            if self._used + size > self.heap_limit_bytes:  # the old value is still live
                raise OutOfMemory(
                    f"cannot allocate {size} bytes (heap {self._used / MIB:.1f} MiB of "
                    f"{self.heap_limit_bytes / MIB:.0f} MiB in use)"
                )
            old = self._entries.pop(key, None)
            self._used -= len(old) if old is not None else 0
            self._entries[key] = bytearray(size)  # really allocated, and zero-filled
            self._used += size
            while self.evicting and self._used > self.budget_bytes:
                _key, value = self._entries.popitem(last=False)
                self._used -= len(value)

    def get(self, key: str) -> bool:
        with self._lock:
            if key not in self._entries:
                return False
            self._entries.move_to_end(key)
            return True

    def drop_all(self) -> int:
        """What an out-of-memory restart does: the heap starts empty."""
        with self._lock:
            dropped = len(self._entries)
            self._entries.clear()
            self._used = 0
            return dropped

    def trim(self) -> None:
        """Evict down to the budget again (after eviction is repaired)."""
        with self._lock:
            while self._used > self.budget_bytes:
                _key, value = self._entries.popitem(last=False)
                self._used -= len(value)

    @property
    def used_bytes(self) -> int:
        return self._used

    def __len__(self) -> int:
        return len(self._entries)
