"""Per-source counts over tumbling windows: per template, per severity and in total.

Time is *event time*: a window `[start, start + width)` closes when the watermark of its source
passes `end + grace`. The watermark moves with the source's record times (`add`) and with the
injected clock or the source's own stream time (`tick`), never with the wall clock directly, so
replaying old logs and streaming live logs give the same windows.

>>> from premortem.clock import ManualClock
>>> from premortem.domain import LogRecord
>>> counter = WindowCounter(width_s=10, clock=ManualClock())
>>> counter.add(LogRecord(time_ns=1_000_000_000, body="up", service="api", template_id=7))
[]
>>> [dict(w.by_template) for w in counter.tick(now_ns=10_000_000_000)]
[{7: 1}]

Memory is bounded: a source keeps at most `history` closed windows; at most `max_services`
sources are tracked (the least recently active is dropped); a quiet source produces at most
`max_empty` empty windows in a row, so a rate drop to zero is seen without an unbounded backlog.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from premortem.clock import Clock, SystemClock
from premortem.counts import SeriesPoint, Window, make_window
from premortem.domain import ERROR_SEVERITY, LogRecord, severity_text_from_number

UNSPECIFIED = "UNSPECIFIED"
NS_PER_S = 1_000_000_000


def severity_bucket(number: int) -> str:
    """The OTel severity range a number falls in: TRACE (1-4) … FATAL (21-24), else UNSPECIFIED."""
    if 0 <= number < len(_BUCKETS):
        return _BUCKETS[number]
    return severity_text_from_number(number) or UNSPECIFIED


# Looked up once per number: asking the enum per record was a quarter of the analysis time.
_BUCKETS = tuple(severity_text_from_number(n) or UNSPECIFIED for n in range(25))


@dataclass(slots=True)
class _Open:
    total: int = 0
    errors: int = 0
    by_template: dict[int, int] = field(default_factory=dict)
    by_severity: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Source:
    next_start: int  # start of the oldest window not yet emitted
    open: dict[int, _Open] = field(default_factory=dict)
    closed: deque[Window] = field(default_factory=deque)
    empty_run: int = 0


class WindowCounter:
    """Tumbling-window counts per source, closed by record time or by `tick()`.

    Records older than the source's oldest open window are *late*: they are counted in `late`
    and otherwise ignored, so a closed window never changes.
    """

    def __init__(
        self,
        width_s: float = 10.0,
        *,
        clock: Clock | None = None,
        grace_s: float = 0.0,
        history: int = 360,
        max_services: int = 1000,
        max_empty: int = 60,
    ) -> None:
        if width_s <= 0:
            raise ValueError("width_s must be positive")
        self.width_ns = int(width_s * NS_PER_S)
        self.grace_ns = int(grace_s * NS_PER_S)
        self.history = history
        self.max_services = max_services
        self.max_empty = max_empty
        self.clock: Clock = clock or SystemClock()
        self.late = 0
        self._sources: OrderedDict[str, _Source] = OrderedDict()

    # ------------------------------------------------------------------ input

    def add(self, record: LogRecord) -> list[Window]:
        """Count one record; returns the windows of its source that its time closed."""
        source = self._source(record.service, record.time_ns)
        start = record.time_ns - record.time_ns % self.width_ns
        closed = self._advance(record.service, source, record.time_ns)
        if start < source.next_start:
            self.late += 1
            return closed
        counts = source.open.get(start)
        if counts is None:
            counts = source.open[start] = _Open()
        counts.total += 1
        if record.severity_number >= ERROR_SEVERITY:
            counts.errors += 1
        if record.template_id is not None:
            counts.by_template[record.template_id] = (
                counts.by_template.get(record.template_id, 0) + 1
            )
        bucket = severity_bucket(record.severity_number)
        counts.by_severity[bucket] = counts.by_severity.get(bucket, 0) + 1
        return closed

    def add_many(self, records: Iterable[LogRecord]) -> list[Window]:
        closed: list[Window] = []
        for record in records:
            closed.extend(self.add(record))
        return closed

    def tick(self, now_ns: int | Callable[[str], int] | None = None) -> list[Window]:
        """Close every window whose end (plus grace) is at or before now (default: the clock).

        `now_ns` is one time for every source, or a function giving each source's own time (a
        stream clock per source), so that one source's newer records never close another's
        windows.
        """
        fixed = 0 if callable(now_ns) else self.clock.now_ns() if now_ns is None else now_ns
        closed: list[Window] = []
        for service, source in self._sources.items():
            now = now_ns(service) if callable(now_ns) else fixed
            closed.extend(self._advance(service, source, now))
        return closed

    # ------------------------------------------------------------------ queries

    def services(self) -> list[str]:
        return list(self._sources)

    def recent(self, service: str) -> list[Window]:
        """Closed windows of a source still held in memory, oldest first."""
        source = self._sources.get(service)
        return list(source.closed) if source else []

    def series(
        self, template_id: int, since_ns: int, until_ns: int, *, service: str | None = None
    ) -> list[SeriesPoint]:
        """Counts of a template per closed window starting in `[since_ns, until_ns)`.

        Sources in which the template never appears in the held history are left out; in the
        others, windows without it count 0, so a drop shows as a gap-free series.
        """
        totals: dict[int, int] = {}
        for name, source in self._sources.items():
            if service is not None and name != service:
                continue
            if not any(template_id in w.by_template for w in source.closed):
                continue
            for window in _between(source.closed, since_ns, until_ns):
                count = window.by_template.get(template_id, 0)
                totals[window.start_ns] = totals.get(window.start_ns, 0) + count
        return [SeriesPoint(start, totals[start]) for start in sorted(totals)]

    # ------------------------------------------------------------------ internals

    def _source(self, service: str, time_ns: int) -> _Source:
        source = self._sources.pop(service, None)
        if source is None:
            if len(self._sources) >= self.max_services:
                # dicts keep insertion order; re-inserting on use makes the first the stalest
                self._sources.popitem(last=False)
            source = _Source(next_start=time_ns - time_ns % self.width_ns)
        self._sources[service] = source
        return source

    def _advance(self, service: str, source: _Source, watermark: int) -> list[Window]:
        closed: list[Window] = []
        limit = watermark - self.grace_ns
        while source.next_start + self.width_ns <= limit:
            start = source.next_start
            counts = source.open.pop(start, None)
            if counts is None:
                source.empty_run += 1
                if source.empty_run > self.max_empty:
                    source.next_start = self._skip_to(source, limit)
                    continue
                counts = _Open()
            else:
                source.empty_run = 0
            window = make_window(
                service,
                start,
                start + self.width_ns,
                total=counts.total,
                errors=counts.errors,
                by_template=counts.by_template,
                by_severity=counts.by_severity,
            )
            source.closed.append(window)
            if len(source.closed) > self.history:
                source.closed.popleft()
            closed.append(window)
            source.next_start = start + self.width_ns
        return closed

    def _skip_to(self, source: _Source, limit: int) -> int:
        """After `max_empty` empty windows, jump to the next window with records, or else to the
        window that `limit` falls in (which is still open, so the closing loop stops)."""
        if source.open:
            return min(source.open)
        return limit - limit % self.width_ns


def _between(windows: Iterable[Window], since_ns: int, until_ns: int) -> Iterator[Window]:
    return (w for w in windows if since_ns <= w.start_ns < until_ns)
