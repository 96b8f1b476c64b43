"""Time as a dependency: the system clock for live use, a manual clock for replays and tests,
and stream time (record time moved on by the wall clock while quiet), kept per source."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
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
            self.restart(time_ns)

    def restart(self, time_ns: int) -> None:
        """The stream is at `time_ns` now, whatever it was."""
        self._watermark = time_ns
        self._seen_at = self._mono.now_ns()

    def now_ns(self) -> int:
        if not self._watermark:
            return 0
        return self._watermark + (self._mono.now_ns() - self._seen_at)


class _Monotonic:
    def now_ns(self) -> int:
        return time.monotonic_ns()


class StreamClocks:
    """Stream time per source: each source's clock is a `StreamClock` moved by its records only.

    A source is a record's `service` ("" for records without one). Keeping one clock per source
    means that a replay of older logs, or a source whose logs arrive late, is judged by its own
    time and not by the newest record some other source sent.

    >>> mono = ManualClock(0)
    >>> clocks = StreamClocks(mono)
    >>> clocks.observe("api", 1_000 * 10**9)
    >>> clocks.observe("db", 10 * 10**9)
    >>> mono.advance(2)
    >>> clocks.now_ns("api") // 10**9, clocks.now_ns("db") // 10**9, clocks.now_ns("other")
    (1002, 12, 0)
    >>> sorted(clocks.sources())
    ['api', 'db']

    At most `max_sources` sources are kept; the one observed least recently is forgotten first.
    """

    def __init__(self, monotonic_ns: Clock | None = None, *, max_sources: int = 10_000) -> None:
        self._mono = monotonic_ns or _Monotonic()
        self.max_sources = max_sources
        self._clocks: OrderedDict[str, StreamClock] = OrderedDict()
        self._lock = threading.Lock()

    def observe(self, source: str, time_ns: int) -> None:
        with self._lock:
            clock = self._clocks.pop(source, None)
            if clock is None:
                if len(self._clocks) >= self.max_sources:
                    # dicts keep insertion order; re-inserting on use makes the first the stalest
                    self._clocks.popitem(last=False)
                clock = StreamClock(self._mono)
            self._clocks[source] = clock
            clock.observe(time_ns)

    def go_back_to(self, time_ns: int) -> list[str]:
        """Every source whose time is past `time_ns` starts again from it (a model trained on
        what came before `time_ns` is loaded: the later records, sent again, are its live
        stream); the sources it moved back."""
        with self._lock:
            moved = [s for s, clock in self._clocks.items() if clock.now_ns() > time_ns]
            for source in moved:
                self._clocks[source].restart(time_ns)
        return moved

    def now_ns(self, source: str) -> int:
        """The source's stream time; 0 for a source never observed."""
        clock = self._clocks.get(source)
        return clock.now_ns() if clock is not None else 0

    def sources(self) -> list[str]:
        with self._lock:
            return list(self._clocks)

    def newest_ns(self) -> int:
        """The newest stream time of any source (what a single global stream clock would say)."""
        with self._lock:
            clocks = list(self._clocks.values())
        return max((clock.now_ns() for clock in clocks), default=0)

    def of(self, source: str = "") -> SourceClock:
        """A `Clock` reading one source's time; its `source` may be changed later."""
        return SourceClock(self, source)

    def newest(self) -> NewestStreamClock:
        """A `Clock` reading the newest time of any source (silences, notification batches)."""
        return NewestStreamClock(self)


class SourceClock:
    """One source's stream time as a `Clock`. The owner points it at another source by setting
    `source` (the prediction stage does so before each run of records from one source)."""

    def __init__(self, clocks: StreamClocks, source: str = "") -> None:
        self.clocks = clocks
        self.source = source

    def now_ns(self) -> int:
        return self.clocks.now_ns(self.source)


class NewestStreamClock:
    def __init__(self, clocks: StreamClocks) -> None:
        self.clocks = clocks

    def now_ns(self) -> int:
        return self.clocks.newest_ns()
