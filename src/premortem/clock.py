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


class StreamClock:
    """Event time of a stream: the newest record time seen, moved on by the real time since.

    Windows and horizons are measured in record time, so a replay of old logs posted in a burst
    and the same logs arriving live close the same windows; while the stream is quiet, time still
    advances (at wall-clock pace) so that windows close and alerts resolve.
    """

    def __init__(self, monotonic_ns: Clock | None = None) -> None:
        self._mono = monotonic_ns or _Monotonic()
        self._watermark = 0
        self._seen_at = 0

    def observe(self, time_ns: int) -> None:
        if time_ns > self._watermark:
            self._watermark = time_ns
            self._seen_at = self._mono.now_ns()

    def now_ns(self) -> int:
        if not self._watermark:
            return 0
        return self._watermark + (self._mono.now_ns() - self._seen_at)


class _Monotonic:
    def now_ns(self) -> int:
        return time.monotonic_ns()
