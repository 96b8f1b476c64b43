"""The pipeline: ingest → mine templates → store → analyse → predict → alert.

Ingestion is synchronous up to the store (a batch is mined, then written in one transaction, so an
accepted batch is durable and every stored log record carries its template id). Everything after
the store runs on a background thread fed by a queue, so ingestion never waits on detection,
prediction or notification. The queue is bounded in records (`max_queued_records`): while
analysis is that far behind, ingestion refuses new batches *before* storing them (`Busy`, HTTP
429 with Retry-After), so nothing is stored without being analysed and a sender's retry
delivers it later. How far behind analysis is (`lag()`: records queued, age of the oldest) is
in /metrics.

`premortem serve` runs the stages, and the insert of log records, in a child process
(premortem.runtime.analysis_process); the queue, its bound and the lag are this module's as
with a thread.

In scale-out (`PREMORTEM_BUS_URL`) log records take another way: the pipeline hands them to the
bus (`handoff`) and answers once the stream holds them; worker processes mine, store and analyse
them (premortem.runtime.worker). Events, test runs and simulations are stored here as before.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from premortem.clock import Clock, SystemClock
from premortem.domain import Event, LogRecord, MetricSeries, SimulationRun
from premortem.errors import Busy
from premortem.logs.catalog import TemplateCatalog
from premortem.ports import InputStore, StoredTestRun

log = logging.getLogger(__name__)

LogStage = Callable[[Sequence[LogRecord]], None]
TickStage = Callable[[int], None]
# Who stores a mined batch: how many records were new, and what the queue keeps of the batch for
# its analysis — the records themselves, or a summary when the process that stored them keeps
# them (`serve`'s analysis process; its stage takes the summary).
StoreLogs = Callable[[Sequence[LogRecord]], tuple[int, "QueuedLogs"]]


class LogSummary(Protocol):
    """A stored batch held elsewhere: the queue needs its size, for the lag and the bound."""

    def __len__(self) -> int: ...


QueuedLogs = Sequence[LogRecord] | LogSummary


class LogHandoff(Protocol):
    """Where accepted log records go instead of this process's own analysis (scale-out)."""

    def publish_logs(self, records: Sequence[LogRecord]) -> int: ...

    def lag(self) -> tuple[int, float]:
        """Records handed over and not yet analysed, and the oldest one's wait in seconds."""
        ...


@dataclass(slots=True)
class Stages:
    """What runs after the store, in order. Later stages (detectors, predictor) register here."""

    # LogStage, or (`serve`'s analysis process) a stage taking the summaries its StoreLogs queued.
    on_logs: list[Callable[[Any], None]] = field(default_factory=list)
    on_events: list[Callable[[Sequence[Event]], None]] = field(default_factory=list)
    on_test_runs: list[Callable[[Sequence[StoredTestRun]], None]] = field(default_factory=list)
    on_simulations: list[Callable[[Sequence[SimulationRun]], None]] = field(default_factory=list)
    on_series: list[Callable[[Sequence[MetricSeries]], None]] = field(default_factory=list)
    on_tick: list[TickStage] = field(default_factory=list)


_STOP = object()
MAX_QUEUED_RECORDS = 200_000  # about 10 s of analysis at 20,000 lines/s
MAX_RETRY_AFTER_S = 30


@dataclass(frozen=True, slots=True)
class AnalysisLag:
    """How far analysis is behind ingestion: records stored and not yet analysed, and how long
    the oldest of them has waited."""

    records: int
    seconds: float


class Pipeline:
    def __init__(
        self,
        *,
        store: InputStore,
        catalog: TemplateCatalog,
        clock: Clock | None = None,
        stages: Stages | None = None,
        tick_interval_s: float = 1.0,
        max_queued_records: int = MAX_QUEUED_RECORDS,
        handoff: LogHandoff | None = None,
        store_logs: StoreLogs | None = None,
    ) -> None:
        self.store = store
        # Who inserts log records: the store, or `serve`'s analysis process (which then keeps
        # them for the analysis the queue asks for, premortem.runtime.analysis_process).
        self._store_logs = store_logs or self._store_here
        self.catalog = catalog
        self.clock = clock or SystemClock()
        self.stages = stages or Stages()
        self._tick_interval_s = tick_interval_s
        self.max_queued_records = max_queued_records
        self.handoff = handoff
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._inline = threading.Lock()
        self._ticked_at = 0.0
        # (enqueued at, records) of each queued batch, oldest first: the lag.
        self._waiting: deque[tuple[float, int]] = deque()
        self._waiting_records = 0
        self._lag_lock = threading.Lock()
        self._analysed_per_s = 0.0  # recent analysis speed, for Retry-After
        # Analysis steps that raised (each logged with its traceback): a stage failing on every
        # batch must show in /metrics, not only in the server's log.
        self.failed_steps = 0

    # ------------------------------------------------------------------ ingestion

    def ingest_logs(self, records: Sequence[LogRecord]) -> int:
        if self.handoff is not None:
            return self.handoff.publish_logs(records)  # durable in the stream: workers go on
        self.admit(len(records))
        # The catalog saves the templates it creates before returning: a stored record's
        # template id is never handed out again, even after a crash (see TemplateCatalog).
        self.catalog.assign(records)
        stored, queued = self._store_logs(records)
        self._enqueue(("logs", queued))
        return stored

    def _store_here(self, records: Sequence[LogRecord]) -> tuple[int, QueuedLogs]:
        return self.store.add_logs(records), records

    def ingest_events(self, events: Sequence[Event]) -> int:
        self.admit(len(events))
        stored = self.store.add_events(events)
        self._enqueue(("events", events))
        return stored

    def ingest_test_runs(self, runs: Sequence[StoredTestRun]) -> int:
        self.admit(len(runs))
        stored = self.store.add_test_runs(runs)
        self._enqueue(("test_runs", runs))
        return stored

    def ingest_simulations(self, runs: Sequence[SimulationRun]) -> int:
        self.admit(len(runs))
        stored = self.store.add_simulations(runs)
        self._enqueue(("simulations", runs))
        return stored

    def analyse_series(self, series: Sequence[MetricSeries]) -> None:
        """Hand metric series (stored by the caller in its SeriesStore) to analysis."""
        if series:
            self._enqueue(("series", series))

    def admit(self, records: int) -> None:
        """Raise `Busy` when analysis is already `max_queued_records` behind (checked before a
        batch is stored; concurrent requests may overshoot the bound by a batch each)."""
        if self._thread is None or self._waiting_records + records <= self.max_queued_records:
            return
        if self._waiting_records == 0:
            return  # one batch larger than the bound: taken alone rather than never
        lag = self.lag()
        speed = self._analysed_per_s or 1.0
        wait = min(MAX_RETRY_AFTER_S, max(1, math.ceil(lag.records / speed)))
        raise Busy(
            f"analysis is {lag.records} records ({lag.seconds:.1f} s) behind "
            f"(bound {self.max_queued_records}): send again in {wait} s",
            retry_after_s=wait,
        )

    def lag(self) -> AnalysisLag:
        if self.handoff is not None:
            return AnalysisLag(*self.handoff.lag())
        with self._lag_lock:
            oldest = self._waiting[0][0] if self._waiting else None
            records = self._waiting_records
        return AnalysisLag(records, 0.0 if oldest is None else time.monotonic() - oldest)

    def _enqueue(self, item: tuple[str, Sequence[object] | LogSummary]) -> None:
        if self._thread is None:
            # No background stage running: analyse in line (CLI, tests), one batch at a time,
            # since the stages are not thread-safe and several threads may be ingesting.
            with self._inline:
                self._dispatch(item)
            return
        with self._lag_lock:
            self._waiting.append((time.monotonic(), len(item[1])))
            self._waiting_records += len(item[1])
        self._queue.put(item)

    def _analysed(self, started: float) -> None:
        """One queued batch left the queue (analysed, or failed in a stage)."""
        with self._lag_lock:
            _, records = self._waiting.popleft()
            self._waiting_records -= records
        took = time.monotonic() - started
        if records and took > 0:
            speed = records / took
            self._analysed_per_s = (
                speed if not self._analysed_per_s else (0.8 * self._analysed_per_s + 0.2 * speed)
            )

    # ------------------------------------------------------------------ analysis

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="premortem-analysis", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout=10)
        else:
            self._safely(self.tick)  # analysed in line: store what the stages still hold
        self.catalog.flush()

    def queued(self) -> int:
        """Batches stored and waiting for analysis."""
        return len(self._waiting)

    def drain(self, timeout_s: float = 10.0) -> None:
        """Wait until every queued batch has been analysed (tests and replays)."""
        done = threading.Event()
        if self._thread is None:
            return
        self._queue.put(("barrier", [done]))
        done.wait(timeout_s)

    def tick(self) -> None:
        self._ticked_at = time.monotonic()
        now = self.clock.now_ns()
        for stage in self.stages.on_tick:
            stage(now)
        self.catalog.flush_if_due(now)

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._tick_interval_s)
            except queue.Empty:
                self._safely(self.tick)
                continue
            if item is _STOP:
                self._safely(self.tick)  # stores what the stages still hold
                return
            assert isinstance(item, tuple)
            if item[0] == "barrier":  # whoever waits expects everything analysed and stored
                self._safely(self.tick)
                self._safely(partial(self._dispatch, item))
                continue
            started = time.monotonic()
            self._safely(partial(self._dispatch, item))
            self._analysed(started)
            # At most one tick per interval under load: a tick closes windows and stores them,
            # and doing that after every batch (~20 a second at 10,000 lines/s) kept the
            # analysis thread waiting on the database while the batches behind it queued up.
            if time.monotonic() - self._ticked_at >= self._tick_interval_s:
                self._safely(self.tick)

    def _dispatch(self, item: tuple[str, Sequence[object] | LogSummary]) -> None:
        kind, batch = item
        if kind == "barrier":
            assert isinstance(batch, list)
            for done in batch:
                assert isinstance(done, threading.Event)
                done.set()
            return
        handlers: list[Callable[[object], None]] = getattr(self.stages, f"on_{kind}")
        for handler in handlers:
            handler(batch)

    def _safely(self, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception:  # a failing stage must not stop analysis of later batches
            self.failed_steps += 1
            log.exception("analysis stage failed")
