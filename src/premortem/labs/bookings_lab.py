"""The bookings lab: bookings-api on a real PostgreSQL server, under load and probed — a second
system, with other faults and other logs than the inventory lab (docs/labs.md).

    with BookingsLab(workdir, premortem_url=url, seed=1) as lab:
        run_suite(lab, plan_suite(runs_per_fault=3, fault_free=3, seed=1, system=BOOKINGS), sink)
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from premortem.demo.servers import free_port
from premortem.labs.bookings import EVENTS, HOT_EVENTS
from premortem.labs.postgres import SERVICE as DB_SERVICE
from premortem.labs.postgres import PostgresServer
from premortem.labs.runner import Fault, LabError, System
from premortem.labs.shipping import NativeLogShipper
from premortem.labs.traffic import Probe, Traffic, call

FAULTS = {
    "lock_contention": Fault(
        "lock_contention", DB_SERVICE, "bookings", "/admin/faults/lock-contention",
        {"hold_s": 0.3, "ramp_s_per_s": 0.3, "rows": 8},
    ),
    "connection_leak": Fault(
        "connection_leak", "bookings-api", "bookings", "/admin/faults/connection-leak",
        {"leaks_per_s": 0.7},
    ),
}  # fmt: skip
BOOKINGS = System(
    "bookings",
    "bookings-api",
    "every booking probe answers 200 within 4 s",
    FAULTS,
    {"load_rps": 12, "probe_interval_s": 0.5},
    "booking",
)


def _booking(rng: random.Random) -> dict[str, object]:
    return {"event": rng.choice(HOT_EVENTS), "seats": rng.randint(1, 4)}


class BookingLoad(Traffic):
    """~rps requests a second: 40 % event lookups, 60 % bookings, mostly of the busiest events.
    Failed bookings are kept."""

    def _one(self) -> None:
        if self.rng.random() < 0.4:
            call(f"{self.base_url}/api/events/{self.rng.randint(1, EVENTS)}", None, timeout_s=5)
            return
        event = self.rng.choice(HOT_EVENTS) if self.rng.random() < 0.7 else None
        body: dict[str, object] = {
            "event": event or self.rng.randint(1, EVENTS),
            "seats": self.rng.randint(1, 4),
        }
        self._keep(call(f"{self.base_url}/api/book", body, timeout_s=5))


class BookingsLab:
    """PostgreSQL and bookings-api on free ports of 127.0.0.1, under load and probed; the
    server's log is shipped by this process, the app ships its own."""

    system = BOOKINGS

    def __init__(
        self, workdir: Path, *, premortem_url: str = "", seed: int = 0, noise_per_s: float = 0.0
    ) -> None:
        if noise_per_s:
            raise LabError("the bookings lab has no client noise (--noise)")
        self.workdir = workdir
        self.premortem_url = premortem_url
        self.seed = seed
        self.urls: dict[str, str] = {}
        self._db_shipper: NativeLogShipper | None = None
        self._db: PostgresServer | None = None
        self._app: subprocess.Popen[bytes] | None = None
        self.load: BookingLoad | None = None
        self.probe: Probe | None = None

    def start(self) -> BookingsLab:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._db_shipper = NativeLogShipper(
            DB_SERVICE, url=self.premortem_url, path=self.workdir / "bookings-db.jsonl"
        )
        self._db = PostgresServer(free_port(), self._db_shipper).start()
        port = free_port()
        self.urls["bookings"] = f"http://127.0.0.1:{port}"
        stderr = (self.workdir / "bookings.stderr").open("ab")
        self._app = subprocess.Popen(
            [
                sys.executable, "-m", "premortem.labs.bookings", "--port", str(port),
                "--dsn", self._db.dsn, "--premortem", self.premortem_url,
                "--log-file", str(self.workdir / "bookings.jsonl"),
                "--parent-pid", str(os.getpid()),
            ],
            stdout=stderr, stderr=stderr, start_new_session=True, cwd=self.workdir,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while call(self.urls["bookings"] + "/health", None, timeout_s=1).status != 200:
            self.check()
            if time.monotonic() > deadline:
                raise LabError(f"bookings-api did not answer on {self.urls['bookings']}")
            time.sleep(0.1)
        self.load = BookingLoad(self.urls["bookings"], rps=12, seed=self.seed).start()
        self.probe = Probe(
            self.urls["bookings"], seed=self.seed, path="/api/book", body=_booking
        ).start()
        return self

    def check(self) -> None:
        if self._db is not None and not self._db.alive():
            raise LabError("the lab's PostgreSQL exited")
        if self._app is not None and self._app.poll() is not None:
            raise LabError(
                f"bookings-api exited with code {self._app.returncode} "
                f"(see {self.workdir / 'bookings.stderr'})"
            )

    def admin(self, process: str, path: str, body: dict[str, Any]) -> None:
        answer = call(self.urls[process] + path, body, timeout_s=15)
        if answer.status != 200:
            raise LabError(f"{process} admin {path} answered {answer.status}: {answer.detail}")

    def rollback(self) -> None:
        self.admin("bookings", "/admin/faults/clear", {})

    def close(self) -> None:
        for part in (self.probe, self.load):
            if part is not None:
                part.stop()
        self.probe = self.load = None
        if self._app is not None and self._app.poll() is None:
            self._app.terminate()
            try:
                self._app.wait(10)
            except subprocess.TimeoutExpired:
                self._app.kill()
                self._app.wait(5)
        if self._db is not None:
            self._db.stop()
        if self._db_shipper is not None:
            self._db_shipper.close()

    def __enter__(self) -> BookingsLab:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
