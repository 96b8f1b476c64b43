"""The labs' systems by name (`--system`): the lab that runs one, and what its runs are about."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from premortem.labs.bookings_lab import BOOKINGS, BookingsLab
from premortem.labs.orders_lab import ORDERS, OrdersLab
from premortem.labs.runner import INVENTORY, Lab, RunnableLab, System


class LabFactory(Protocol):
    def __call__(
        self, workdir: Path, *, premortem_url: str = "", seed: int = 0, noise_per_s: float = 0.0
    ) -> RunnableLab: ...


SYSTEMS: dict[str, tuple[LabFactory, System]] = {
    "inventory": (Lab, INVENTORY),
    "bookings": (BookingsLab, BOOKINGS),
    "orders": (OrdersLab, ORDERS),
}
