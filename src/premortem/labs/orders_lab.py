"""The orders lab: orders-api (a queue, four workers, a ledger on a volume of fixed size) under load
and probed — a third system, whose logs are text lines shipped one by one (docs/labs.md).

    with OrdersLab(workdir, premortem_url=url, seed=1) as lab:
        run_suite(lab, plan_suite(runs_per_fault=3, fault_free=3, seed=1, system=ORDERS), sink)
"""

from __future__ import annotations

import random
from pathlib import Path

from premortem.labs.applab import OneAppLab
from premortem.labs.orders import PRODUCTS
from premortem.labs.runner import Fault, LabError, System
from premortem.labs.traffic import Probe, Traffic, call

FAULTS = {
    "worker_stall": Fault(
        "worker_stall", "orders-worker", "orders", "/admin/faults/worker-stall",
        {"stalls_per_s": 0.45},
    ),
    "disk_fill": Fault(
        "disk_fill", "orders-volume", "orders", "/admin/faults/disk-fill", {"mib_per_s": 2.0},
    ),
}  # fmt: skip
# The same faults held below what breaks orders-api (`--harmless N`): warnings, no failure.
HARMLESS = {
    "worker_stall_capped": Fault(
        "worker_stall", "orders-worker", "orders", "/admin/faults/worker-stall",
        {"stalls_per_s": 0.45, "limit": 2},
    ),
    "disk_fill_capped": Fault(
        "disk_fill", "orders-volume", "orders", "/admin/faults/disk-fill",
        {"mib_per_s": 2.0, "limit_mib": 8.0},
    ),
}  # fmt: skip
ORDERS = System(
    "orders",
    "orders-api",
    "every order probe is settled (200) within 4 s",
    FAULTS,
    {"load_rps": 12, "probe_interval_s": 0.5, "workers": 4},
    "order",
    HARMLESS,
)
HOT_PRODUCTS = [f"P-{n:04d}" for n in range(1, 11)]


def _order(rng: random.Random) -> dict[str, object]:
    return {"product": rng.choice(HOT_PRODUCTS), "qty": rng.randint(1, 3)}


class OrderLoad(Traffic):
    """~rps requests a second: a quarter product lookups, the rest orders, one in a hundred for
    a product that does not exist (a client's mistake, answered 422: never a failure).
    Failed orders are kept."""

    def _one(self) -> None:
        draw = self.rng.random()
        if draw < 0.25:
            product = f"P-{self.rng.randint(1, PRODUCTS):04d}"
            call(f"{self.base_url}/api/products/{product}", None, timeout_s=5)
            return
        if draw < 0.26:
            body: dict[str, object] = {"product": f"P-{self.rng.randint(900, 999):04d}", "qty": 1}
            call(f"{self.base_url}/api/orders", body, timeout_s=5)
            return
        hot = self.rng.random() < 0.7
        body = {
            "product": self.rng.choice(HOT_PRODUCTS)
            if hot
            else f"P-{self.rng.randint(1, PRODUCTS):04d}",
            "qty": self.rng.randint(1, 4),
        }
        self._keep(call(f"{self.base_url}/api/orders", body, timeout_s=5))


class OrdersLab(OneAppLab):
    """orders-api on a free port of 127.0.0.1, under load and probed; it ships its own logs."""

    system = ORDERS
    app = "orders"
    label = "orders-api"

    def __init__(
        self, workdir: Path, *, premortem_url: str = "", seed: int = 0, noise_per_s: float = 0.0
    ) -> None:
        if noise_per_s:
            raise LabError("the orders lab has its everyday warnings built in (no --noise)")
        super().__init__(workdir, premortem_url=premortem_url, seed=seed)

    def start(self) -> OrdersLab:
        url = self.spawn(["--seed", str(self.seed)])
        self.load = OrderLoad(url, rps=12, seed=self.seed).start()
        self.probe = Probe(url, seed=self.seed, path="/api/orders", body=_order).start()
        return self
