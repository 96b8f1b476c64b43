"""The demo service's resources: a bounded SQLite connection pool and a bounded work queue.

Both behave like the production pieces they stand for (HikariCP-style pool with leak detection,
an executor with a bounded queue): callers wait with a timeout, never forever, and the pool tells
its log what it sees — waits, low headroom, suspected leaks, exhaustion.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("shop.pool")
WAIT_WINDOW_S = 3.0  # pool wait percentiles cover the last few seconds
qlog = logging.getLogger("shop.queue")


class PoolExhausted(Exception):
    """No connection became free within the acquire timeout."""


class DatabaseDown(Exception):
    """The database does not accept connections (stopped through the admin API)."""


class QueueFull(Exception):
    """The work queue is at capacity."""


@dataclass(slots=True)
class Lease:
    conn: sqlite3.Connection
    number: int
    owner: str
    taken_at: float = field(default_factory=time.monotonic)
    reported: bool = False


class ConnectionPool:
    def __init__(
        self,
        path: str,
        *,
        size: int = 5,
        acquire_timeout_s: float = 2.0,
        leak_threshold_s: float = 3.0,
    ) -> None:
        self.path = path
        self.size = size
        self.acquire_timeout_s = acquire_timeout_s
        self.leak_threshold_s = leak_threshold_s
        self.extra_latency_s = 0.0
        self.down = False
        self._idle: list[tuple[int, sqlite3.Connection]] = []
        self._leased: dict[int, Lease] = {}
        self._waiting = 0
        self._cond = threading.Condition()
        self._waits: deque[tuple[float, float]] = deque(maxlen=2000)  # (when, wait seconds)
        for number in range(1, size + 1):
            self._idle.append((number, self._connect()))

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=5, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def acquire(self, owner: str, timeout_s: float | None = None) -> Lease:
        timeout = self.acquire_timeout_s if timeout_s is None else timeout_s
        started = time.monotonic()
        with self._cond:
            if self.down:
                raise DatabaseDown("database is unavailable: connection refused")
            self._waiting += 1
            try:
                if not self._cond.wait_for(lambda: bool(self._idle) or self.down, timeout):
                    self._waits.append((time.monotonic(), timeout))
                    raise PoolExhausted(
                        f"connection pool exhausted: timed out after {timeout * 1000:.0f} ms "
                        f"waiting for a connection ({len(self._leased)} active, 0 idle, "
                        f"{self._waiting - 1} other requests waiting)"
                    )
                if self.down:
                    raise DatabaseDown("database is unavailable: connection refused")
                number, conn = self._idle.pop()
            finally:
                self._waiting -= 1
            lease = Lease(conn, number, owner)
            self._leased[number] = lease
            self._waits.append((time.monotonic(), time.monotonic() - started))
        return lease

    def release(self, lease: Lease) -> None:
        with self._cond:
            if self._leased.pop(lease.number, None) is None:
                return
            self._idle.append((lease.number, lease.conn))
            self._cond.notify()

    def query(self, lease: Lease, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        if self.down:
            raise DatabaseDown("database is unavailable: connection reset by peer")
        rows = lease.conn.execute(sql, params).fetchall()
        lease.conn.commit()
        if self.extra_latency_s:
            time.sleep(self.extra_latency_s)  # the database answers slowly
        return rows

    def reclaim(self, predicate: Callable[[Lease], bool]) -> int:
        """Return leased connections matching `predicate` to the pool (leaks cleaned up)."""
        with self._cond:
            leases = [lease for lease in self._leased.values() if predicate(lease)]
        for lease in leases:
            self.release(lease)
        return len(leases)

    def set_down(self, down: bool) -> None:
        with self._cond:
            self.down = down
            self._cond.notify_all()

    def stats(self) -> dict[str, Any]:
        now = time.monotonic()
        with self._cond:
            waits = sorted(w for when, w in self._waits if now - when <= WAIT_WINDOW_S)
            return {
                "size": self.size,
                "active": len(self._leased),
                "idle": len(self._idle),
                "waiting": self._waiting,
                "wait_p95_ms": round(waits[int(0.95 * (len(waits) - 1))] * 1000, 1)
                if waits
                else 0.0,
                "acquired_5s": len(waits),
            }

    def suspected_leaks(self) -> list[Lease]:
        """Leases held past the leak threshold, each reported once."""
        now = time.monotonic()
        found = []
        with self._cond:
            for lease in self._leased.values():
                if not lease.reported and now - lease.taken_at > self.leak_threshold_s:
                    lease.reported = True
                    found.append(lease)
        return found


Job = Callable[[], Any]


class WorkQueue:
    """A bounded queue served by worker threads; a worker can be killed (and replaced)."""

    def __init__(self, *, workers: int = 8, capacity: int = 50) -> None:
        self.capacity = capacity
        self.target_workers = workers
        self._queue: queue.Queue[tuple[Job, Future[Any]] | None] = queue.Queue(maxsize=capacity)
        self._threads: dict[str, threading.Thread] = {}
        self._kill = 0
        self._lock = threading.Lock()
        self._next = 0
        for _ in range(workers):
            self._spawn()

    def _spawn(self) -> None:
        with self._lock:
            self._next += 1
            name = f"worker-{self._next}"
            thread = threading.Thread(target=self._work, args=(name,), name=name, daemon=True)
            self._threads[name] = thread
        thread.start()

    def submit(self, job: Job) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            self._queue.put_nowait((job, future))
        except queue.Full:
            raise QueueFull(f"work queue full ({self.capacity}/{self.capacity})") from None
        return future

    def depth(self) -> int:
        return self._queue.qsize()

    def alive(self) -> int:
        with self._lock:
            return len(self._threads)

    def kill(self, count: int) -> None:
        """The next `count` workers to pick up a job crash instead of running it."""
        with self._lock:
            self._kill += count

    def restore(self) -> int:
        with self._lock:
            self._kill = 0
            missing = self.target_workers - len(self._threads)
        for _ in range(missing):
            self._spawn()
        return max(missing, 0)

    def _requeue(self, job: Job, future: Future[Any]) -> None:
        """A crashed worker's job is not lost: another worker picks it up (if there is room)."""
        try:
            self._queue.put_nowait((job, future))
        except queue.Full:
            future.set_exception(QueueFull("work queue full while re-queueing a crashed job"))

    def _work(self, name: str) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job, future = item
            with self._lock:
                crash = self._kill > 0
                self._kill -= int(crash)
                if crash:
                    del self._threads[name]
            if crash:
                self._requeue(job, future)
                qlog.error(
                    "%s crashed: RuntimeError: segmentation fault in native extension; "
                    "%d of %d workers left",
                    name,
                    self.alive(),
                    self.target_workers,
                )
                return
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(job())
                except BaseException as exc:
                    future.set_exception(exc)
