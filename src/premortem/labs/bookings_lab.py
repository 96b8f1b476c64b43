"""The bookings lab: bookings-api on a real PostgreSQL server, under load and probed — a second
system, with other faults and other logs than the inventory lab (docs/labs.md).

    with BookingsLab(workdir, premortem_url=url, seed=1) as lab:
        run_suite(lab, plan_suite(runs_per_fault=3, fault_free=3, seed=1, system=BOOKINGS), sink)
"""

from __future__ import annotations

import random
from pathlib import Path

from premortem.demo.servers import free_port
from premortem.labs.applab import OneAppLab
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


class BookingsLab(OneAppLab):
    """PostgreSQL and bookings-api on free ports of 127.0.0.1, under load and probed; the
    server's log is shipped by this process, the app ships its own."""

    system = BOOKINGS
    app = "bookings"
    label = "bookings-api"

    def __init__(
        self, workdir: Path, *, premortem_url: str = "", seed: int = 0, noise_per_s: float = 0.0
    ) -> None:
        if noise_per_s:
            raise LabError("the bookings lab has no client noise (--noise)")
        super().__init__(workdir, premortem_url=premortem_url, seed=seed)
        self._db_shipper: NativeLogShipper | None = None
        self._db: PostgresServer | None = None

    def start(self) -> BookingsLab:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._db_shipper = NativeLogShipper(
            DB_SERVICE, url=self.premortem_url, path=self.workdir / "bookings-db.jsonl"
        )
        self._db = PostgresServer(free_port(), self._db_shipper).start()
        url = self.spawn(["--dsn", self._db.dsn])
        self.load = BookingLoad(url, rps=12, seed=self.seed).start()
        self.probe = Probe(url, seed=self.seed, path="/api/book", body=_booking).start()
        return self

    def check(self) -> None:
        if self._db is not None and not self._db.alive():
            raise LabError("the lab's PostgreSQL exited")
        super().check()

    def close(self) -> None:
        super().close()
        if self._db is not None:
            self._db.stop()
        if self._db_shipper is not None:
            self._db_shipper.close()
