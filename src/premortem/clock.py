"""Time as a dependency: the system clock for live use, a manual clock for replays and tests."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Nanoseconds since the Unix epoch."""
        ...


class SystemClock:
    def now_ns(self) -> int:
        return time.time_ns()


class ManualClock:
    """A clock that only moves when told to; replays advance it to each record's time."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def set(self, ns: int) -> None:
        self._now = max(self._now, ns)

    def advance(self, seconds: float) -> None:
        self._now += int(seconds * 1e9)
