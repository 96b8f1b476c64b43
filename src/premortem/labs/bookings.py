"""bookings-api: seat bookings for events, on the bookings lab's real PostgreSQL (docs/labs.md).

`POST /api/book {"event": n, "seats": k}` takes a connection from the app's pool (10, a wait of
at most 1.5 s) and, in one transaction, locks the event's row (`SELECT … FOR UPDATE` under a
1.5 s `lock_timeout`), records the booking and counts the seats. `GET /api/events/N` reads one.
It logs as a Python service does (`WARNING`, `ERROR`, a stack under a warning), and its pool
reports a connection held longer than 2 s, as HikariCP's leak detection does.

Faults (`POST /admin/faults/NAME`, never told to premortem):
- `lock-contention`: a re-pricing job locks the busiest events' rows for `hold_s`, growing by
  `ramp_s_per_s` every second, and commits, again and again;
- `connection-leak`: an export job takes a connection from the pool `leaks_per_s` times a
  second and never gives it back.
"""

from __future__ import annotations

import argparse
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg

from premortem.labs.process import NOT_FOUND, FaultJobs, json_handler, lab_route, serve
from premortem.labs.shipping import NativeLogShipper, ship

log = logging.getLogger("bookings.api")
pool_log = logging.getLogger("bookings.pool")
job_log = logging.getLogger("bookings.jobs")
EVENTS = 40
HOT_EVENTS = list(range(1, 9))
POOL_SIZE = 10
POOL_WAIT_S = 1.5
LEAK_THRESHOLD_S = 2.0
SLOW_MS = 300


LOCK_ROWS = "SELECT id FROM events WHERE id = ANY(%s) ORDER BY id FOR UPDATE"
REPRICE = "UPDATE events SET price_cents = price_cents WHERE id = ANY(%s)"


class PoolExhausted(Exception):
    pass


@dataclass(slots=True)
class _Lease:
    connection: psycopg.Connection[Any]
    taken_at: float
    thread: str
    stack: str
    reported: bool = False


@dataclass
class Pool:
    """A fixed pool of connections; one held past LEAK_THRESHOLD_S is reported once, with the
    stack that took it."""

    dsn: str
    size: int = POOL_SIZE
    _free: queue.Queue[psycopg.Connection[Any]] = field(default_factory=queue.Queue)
    _leases: dict[int, _Lease] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self) -> Pool:
        for _ in range(self.size):
            self._free.put(psycopg.connect(self.dsn, autocommit=False))
        return self

    def in_use(self) -> int:
        with self._lock:
            return len(self._leases)

    def take(self) -> psycopg.Connection[Any]:
        started = time.monotonic()
        try:
            connection = self._free.get(timeout=POOL_WAIT_S)
        except queue.Empty:
            raise PoolExhausted(
                f"no database connection within {POOL_WAIT_S * 1000:.0f} ms "
                f"({self.in_use()} of {self.size} in use)"
            ) from None
        waited_ms = (time.monotonic() - started) * 1000
        stack = "".join(traceback.format_stack(limit=5)[:-1])
        with self._lock:
            self._leases[id(connection)] = _Lease(
                connection, time.monotonic(), threading.current_thread().name, stack
            )
            busy = len(self._leases)
        if waited_ms >= 200:
            pool_log.warning(
                "waited %.0f ms for a database connection (%d of %d in use)",
                waited_ms, busy, self.size,
            )  # fmt: skip
        return connection

    def give_back(self, connection: psycopg.Connection[Any]) -> None:
        with self._lock:
            self._leases.pop(id(connection), None)
        if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            connection.rollback()
        self._free.put(connection)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        connection = self.take()
        try:
            yield connection
        finally:
            self.give_back(connection)

    def report_leaks(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [
                lease
                for lease in self._leases.values()
                if not lease.reported and now - lease.taken_at > LEAK_THRESHOLD_S
            ]
            for lease in due:
                lease.reported = True
        for lease in due:
            pool_log.warning(
                "Connection leak detection triggered for connection %x on thread %s, held "
                "%.0f ms; taken at:\n%s",
                id(lease.connection) & 0xFFFFFF, lease.thread,
                (now - lease.taken_at) * 1000, lease.stack.rstrip(),
            )  # fmt: skip


class Bookings:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        with pool.connection() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS events (id int PRIMARY KEY, name text NOT NULL, "
                "seats_sold int NOT NULL DEFAULT 0, price_cents int NOT NULL DEFAULT 5000)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS bookings (id bigserial PRIMARY KEY, event_id int "
                "NOT NULL REFERENCES events (id), seats int NOT NULL, booked_at timestamptz "
                "NOT NULL DEFAULT now())"
            )
            db.execute(
                "INSERT INTO events (id, name) SELECT n, 'event ' || n "
                "FROM generate_series(1, %s) AS n ON CONFLICT DO NOTHING",
                (EVENTS,),
            )
            db.commit()

    def book(self, event: int, seats: int) -> tuple[int, dict[str, Any]]:
        started = time.monotonic()
        if not 1 <= event <= EVENTS or not 1 <= seats <= 6:
            log.info("rejected booking: event=%d seats=%d", event, seats)
            return 422, {"error": "no such event, or 1 to 6 seats"}
        try:
            with self.pool.connection() as db:
                db.execute("SET lock_timeout = '1500ms'")
                db.execute("SELECT seats_sold FROM events WHERE id = %s FOR UPDATE", (event,))
                db.execute("INSERT INTO bookings (event_id, seats) VALUES (%s, %s)", (event, seats))
                db.execute(
                    "UPDATE events SET seats_sold = seats_sold + %s WHERE id = %s", (seats, event)
                )
                db.commit()
        except PoolExhausted as exc:
            log.error("booking failed for event %d: %s", event, exc)
            return 503, {"error": str(exc)}
        except psycopg.errors.LockNotAvailable as exc:
            log.error("booking failed for event %d: %s", event, str(exc).strip())
            return 503, {"error": "the event is locked; try again"}
        took_ms = (time.monotonic() - started) * 1000
        if took_ms >= SLOW_MS:
            log.warning("slow booking for event %d: %.0f ms", event, took_ms)
        else:
            log.info("booked %d seats for event %d in %.0f ms", seats, event, took_ms)
        return 200, {"event": event, "seats": seats}

    def event(self, event: int) -> tuple[int, dict[str, Any]]:
        try:
            with self.pool.connection() as db:
                row = db.execute("SELECT name, seats_sold FROM events WHERE id = %s", (event,))
                found = row.fetchone()
                db.commit()
        except PoolExhausted as exc:
            log.error("event lookup failed: %s", exc)
            return 503, {"error": str(exc)}
        if found is None:
            return 404, {"error": f"no event {event}"}
        return 200, {"event": event, "name": found[0], "seats_sold": found[1]}


class Faults(FaultJobs):
    def __init__(self, pool: Pool, dsn: str) -> None:
        super().__init__()
        self.pool = pool
        self.dsn = dsn
        self._leaked: list[psycopg.Connection[Any]] = []

    def jobs(self) -> dict[str, Callable[[dict[str, Any]], None]]:
        return {"lock-contention": self._reprice, "connection-leak": self._export}

    def clear(self) -> dict[str, Any]:
        self.stop_jobs()
        # Only what the export job took: a request's connection is given back by its request.
        leaked, self._leaked = self._leaked, []
        for connection in leaked:
            self.pool.give_back(connection)
        return {"reclaimed_connections": len(leaked)}

    def _reprice(self, body: dict[str, Any]) -> None:
        """Locks the busiest events' rows for longer and longer, in its own session."""
        stop = self.stopping
        hold = float(body.get("hold_s", 0.3))
        ramp = float(body.get("ramp_s_per_s", 0.35))
        rows = HOT_EVENTS[: int(body.get("rows", len(HOT_EVENTS)))]
        started = time.monotonic()
        with psycopg.connect(self.dsn, autocommit=False) as db:
            while not stop.is_set():
                db.execute(
                    "SELECT id FROM events WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (rows,)
                )
                stop.wait(hold + ramp * (time.monotonic() - started))
                db.execute(
                    "UPDATE events SET price_cents = price_cents WHERE id = ANY(%s)", (rows,)
                )
                db.commit()
                stop.wait(0.05)

    def _export(self, body: dict[str, Any]) -> None:
        """Takes a connection now and then, and forgets to give it back."""
        stop = self.stopping
        interval = 1.0 / float(body.get("leaks_per_s", 0.7))
        while not stop.wait(interval):
            try:
                connection = self.pool.take()
            except PoolExhausted:
                continue
            self._leaked.append(connection)
            connection.execute("SELECT count(*) FROM bookings")


def make_route(app: Bookings, faults: Faults) -> Any:
    def route(
        method: str, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if path == "/api/book" and method == "POST":
            return app.book(int(body.get("event") or 1), int(body.get("seats") or 1))
        if path.startswith("/api/events/"):
            return app.event(int(path.removeprefix("/api/events/")))
        return lab_route(method, path, body, faults) or NOT_FOUND

    return route


def _watch_leaks(pool: Pool, stop: threading.Event) -> None:
    while not stop.wait(0.5):
        pool.report_leaks()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m premortem.labs.bookings")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--premortem", default="")
    parser.add_argument("--log-file")
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)
    shipper = NativeLogShipper(
        "bookings-api", url=args.premortem, path=Path(args.log_file) if args.log_file else None
    )
    ship(["bookings"], shipper)
    admin = logging.getLogger("lab.admin")  # local only: premortem is not told about faults
    admin.setLevel(logging.INFO)
    admin.addHandler(logging.StreamHandler())
    pool = Pool(args.dsn).open()
    app = Bookings(pool)
    faults = Faults(pool, args.dsn)
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port), json_handler(make_route(app, faults), "bookings-api/1.4", log=log)
    )
    log.info("bookings-api started on port %d", args.port)

    def cleanup() -> None:
        faults.clear()
        shipper.close()

    serve(
        server, parent_pid=args.parent_pid, background=partial(_watch_leaks, pool), cleanup=cleanup
    )


if __name__ == "__main__":
    main()
