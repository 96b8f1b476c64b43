"""Log storage and analysis in a process of its own: what `premortem serve` runs by default.

One interpreter cannot parse, mine and store the ingest batches while it also runs windows,
detectors, the predictor and alerting (docs/scaling.md). So `serve` starts one child process and
stops it with itself; a user still sees one service. The server parses, validates and mines
(a record's template id is assigned, and a new template saved, before the record is stored);
the child inserts the log records and analyses them.

- The request path hands each mined batch to the child's store thread and answers its sender
  only when the child answered "stored": an answered batch is durable, as before.
- The server keeps its queue, its bound (HTTP 429 with Retry-After) and its lag metric: the
  pipeline's analysis thread asks the child to analyse the oldest batch it stored and waits for
  the answer, so "analysed" still means windowed, predicted, stored and alerted, and `drain()`
  still means all of it.
- Records cross the pipes as tuples of their fields (a third of the cost of pickling objects).
  Test runs, events, simulations and templates are stored by the server, as before. The
  server's own prediction stage serves the model to the API (What-If, which version serves) and
  shows the open predictions the child tells it in /metrics; its alerting answers the API.

If the child dies, the batches it held are stored and not analysed (logged), a batch it was
storing is answered 503 (sent again, it is kept once), and the next call starts a new child.
When the server dies, even by SIGKILL, the child reads the end of its pipes and exits.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, fields
from multiprocessing.connection import Connection
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from premortem.domain import LogRecord, MetricSeries, Prediction
from premortem.errors import StoreError, Unavailable
from premortem.runtime.analysis import newest_per_source, observe_newest
from premortem.service.collector import tune_collector

if TYPE_CHECKING:
    from premortem.clock import StreamClocks
    from premortem.config import Settings
    from premortem.runtime.analysis import PredictionStage

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 120.0  # the child imports pandas, pgmpy and the store before it answers
STOP_TIMEOUT_S = 15.0

Told = list[tuple[str | None, list[Prediction]]]


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """What the server's queue keeps of a batch the child stored and holds: its size (the lag,
    the bound) and each source's newest record time (this process's stream clocks)."""

    size: int
    newest: dict[str, int]

    def __len__(self) -> int:
        return self.size


@dataclass(slots=True)
class _Child:
    process: multiprocessing.process.BaseProcess
    calls: Connection  # the analysis thread's (and a reload's): a batch to analyse, a tick
    stores: Connection  # the request threads': a batch to store


class AnalysisProcess:
    """The server's side: log records stored, and the stages the pipeline runs, by the child."""

    def __init__(
        self, settings: Settings, prediction: PredictionStage, clocks: StreamClocks
    ) -> None:
        self._settings = settings
        # This process's prediction stage: the model the API serves, and the open predictions
        # /metrics shows (the child tells them; they lapse here on this process's stream time).
        self._prediction = prediction
        self._clocks = clocks
        self._life = threading.Lock()  # starting and losing the child
        self._calls = threading.Lock()  # one call at a time on each pipe
        self._stores = threading.Lock()
        self._child: _Child | None = None
        self._stopped = False
        self.sizes: dict[str, int] = {}
        self.restarts = 0

    # ------------------------------------------------------------------ the request path

    def add_logs(self, records: Sequence[LogRecord]) -> tuple[int, StoredBatch]:
        """Store a batch (the child inserts it and keeps it for analysis): how many were new, and
        what the server's queue keeps of it — its size and newest times, not the records.

        The server answers the sender only after this, so an answered batch is durable."""
        batch = StoredBatch(len(records), newest_per_source(records))
        if not records:
            return 0, batch
        rows = pickle.dumps([astuple_fast(r) for r in records], protocol=pickle.HIGHEST_PROTOCOL)
        with self._stores:
            child = self._ensure_child()
            try:
                child.stores.send_bytes(rows)
                status, answer = pickle.loads(child.stores.recv_bytes())
            except (EOFError, OSError) as exc:
                self._lost(child)
                raise Unavailable(
                    "the process that stores log records stopped before answering: send the "
                    "batch again (a record sent twice is kept once)",
                    retry_after_s=1,
                ) from exc
        if status != "ok":
            raise StoreError(f"log records not stored: {answer}")
        return int(answer), batch

    # ------------------------------------------------------------------ the pipeline's stages

    def on_logs(self, batch: StoredBatch) -> None:
        """Have the child analyse the oldest batch it stored and has not analysed. Each batch is
        stored before it is queued, so the child holds at least the batches the queue asks for
        (two requests may queue theirs in the other order; the child goes by storing order)."""
        observe_newest(self._clocks, batch.newest)
        self._told(self._call("logs", None))

    def on_series(self, series: Sequence[MetricSeries]) -> None:
        self._told(self._call("series", list(series)))

    def on_tick(self, now_ns: int) -> None:
        told, self.sizes = self._call("tick", now_ns)
        self._told(told)

    def reload_model(self) -> None:
        """Predict with the newest stored model now (after a training), here and in the child
        (which would otherwise notice it at its next look, within seconds)."""
        self._prediction.reload()
        self._call("reload", None)

    def _told(self, told: Told) -> None:
        for source, predictions in told:
            self._prediction.live.update(predictions, source=source or "")

    # ------------------------------------------------------------------ the child

    def start(self) -> None:
        self._ensure_child()

    def stop(self) -> None:
        # A call still waiting on a hung child must not hold the server's shutdown forever.
        idle = self._calls.acquire(timeout=STOP_TIMEOUT_S)
        try:
            with self._life:
                self._stopped = True
                child, self._child = self._child, None
            if child is not None and idle:
                try:
                    child.calls.send_bytes(pickle.dumps(("stop", None)))
                    if child.calls.poll(STOP_TIMEOUT_S):
                        child.calls.recv_bytes()
                except (EOFError, OSError):
                    pass
        finally:
            if idle:
                self._calls.release()
        if child is None:
            return
        child.calls.close()
        child.stores.close()
        child.process.join(STOP_TIMEOUT_S)
        if child.process.is_alive():
            log.warning("the analysis process did not stop in %.0f s: killed", STOP_TIMEOUT_S)
            child.process.kill()
            child.process.join()

    def pid(self) -> int | None:
        child = self._child
        return child.process.pid if child is not None else None

    def _call(self, kind: str, payload: Any) -> Any:
        with self._calls:
            child = self._ensure_child()
            try:
                child.calls.send_bytes(
                    pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
                )
                status, answer = pickle.loads(child.calls.recv_bytes())
            except (EOFError, OSError) as exc:
                self._lost(child)
                raise RuntimeError(f"the analysis process died during {kind!r}") from exc
        if status != "ok":
            raise RuntimeError(f"analysis process: {answer}")
        return answer

    def _ensure_child(self) -> _Child:
        with self._life:
            if self._stopped:
                raise RuntimeError("the analysis process was stopped with the server")
            child = self._child
            if child is not None and child.process.is_alive():
                return child
            if child is not None:
                self._forget(child)
            self._child = self._spawn()
            return self._child

    def _spawn(self) -> _Child:
        # spawn, not fork: the server has threads (a forked child would inherit held locks).
        context = multiprocessing.get_context("spawn")
        calls, their_calls = context.Pipe()
        stores, their_stores = context.Pipe()
        process = context.Process(
            target=child_main,
            args=(self._settings, their_calls, their_stores),
            name="premortem-analysis",
            daemon=True,
        )
        process.start()
        their_calls.close()
        their_stores.close()
        if not calls.poll(READY_TIMEOUT_S):
            process.kill()
            raise RuntimeError("the analysis process did not start")
        calls.recv_bytes()  # ready
        log.info("analysis process %s started", process.pid)
        return _Child(process, calls, stores)

    def _lost(self, child: _Child) -> None:
        with self._life:
            if self._child is child:
                self._forget(child)
                self._child = None

    def _forget(self, child: _Child) -> None:
        """A child that ended: the batches it held are stored and not analysed."""
        child.calls.close()
        child.stores.close()
        child.process.join(1)
        log.error(
            "the analysis process %s ended (exit code %s): the batches it held are stored and "
            "not analysed; a new one starts with the next batch",
            child.process.pid,
            child.process.exitcode,
        )
        self.restarts += 1


# A record's fields in `LogRecord` order, read in C (a generator over getattr took 7 µs a record).
astuple_fast = attrgetter(*(f.name for f in fields(LogRecord)))


def child_main(settings: Settings, calls: Connection, stores: Connection) -> None:
    """The child: the stages on the same database. One thread stores the batches the request
    path sends (and keeps them for analysis); the main one serves the analysis thread's calls,
    until the server says stop or its end of the pipes closes."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    stages = _ChildStages(settings)
    # The child holds the long-lived heap (windows, detectors, the predictor's miner) and makes
    # the short-lived objects (each batch's records): the server's collector settings suit it
    # (about a tenth less CPU in the child on bench/ingest.py few-templates, 600,000 lines).
    tune_collector(settings.gc_thresholds)
    threading.Thread(
        target=stages.store_loop, args=(stores,), name="premortem-store", daemon=True
    ).start()
    calls.send_bytes(b"ready")
    try:
        while True:
            try:
                kind, payload = pickle.loads(calls.recv_bytes())
            except (EOFError, OSError):
                return  # the server is gone
            try:
                answer = stages.handle(kind, payload)
                reply: tuple[str, Any] = ("ok", answer)
            except Exception as exc:  # one failing batch must not end analysis
                log.exception("analysis stage failed on %s", kind)
                reply = ("error", f"{type(exc).__name__}: {exc}")
            calls.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
            if kind == "stop":
                return
    finally:
        stages.close()


class _ChildStages:
    """The stages `build_runtime` runs in a thread, assembled in the child on the same store."""

    def __init__(self, settings: Settings) -> None:
        from premortem.clock import StreamClocks, SystemClock
        from premortem.runtime.assembly import build_analysis_stage, build_prediction_side
        from premortem.store.engine import make_engine
        from premortem.store.inputs import SqlInputStore
        from premortem.store.modes import SqlModeRepository

        clock = SystemClock()
        self.engine = make_engine(settings.database_url)  # migrated by the server
        clocks = StreamClocks()
        self.analysis = build_analysis_stage(settings, self.engine, clocks)
        modes = SqlModeRepository(self.engine, clock=clock)
        inputs = SqlInputStore(self.engine, clock=clock)
        self.inputs = inputs
        # Batches stored and not yet analysed, in the order they were stored.
        self.stored: deque[list[LogRecord]] = deque()
        side = build_prediction_side(settings, self.engine, clock, clocks, modes, inputs)
        self.alerting, self.prediction = side[1], side[4]
        self.prediction.follow_runs(inputs)  # the server's own stage sees no logs: not there
        self.told: Told = []
        self.prediction.on_told = lambda source, predictions: self.told.append(
            (source, predictions)
        )
        self.prediction.reload()
        self.alerting.reload_firing()  # alerts firing before a restart go on being looked after
        self.alerting.start()

    def handle(self, kind: str, payload: Any) -> Any:
        self.told = []
        if kind == "logs":
            records = self.stored.popleft() if self.stored else []
            # Prediction first: it is on the alert path (as in build_runtime).
            self.prediction.on_logs(records)
            self.analysis.on_logs(records)
            return self.told
        if kind == "series":
            self.prediction.on_series(payload)
            return self.told
        if kind == "tick":
            self.analysis.on_tick(payload)
            self.prediction.on_tick(payload)
            sizes = {f"analysis_{k}": v for k, v in self.analysis.analyzer.sizes().items()}
            return self.told, sizes
        if kind == "reload":
            self.prediction.reload()
            return None
        if kind == "stop":
            return None  # the server's last tick came first: nothing is held
        raise ValueError(f"unknown call {kind!r}")

    def store_loop(self, stores: Connection) -> None:
        while True:
            try:
                rows = pickle.loads(stores.recv_bytes())
            except (EOFError, OSError):
                return  # the server is gone
            try:
                records = [LogRecord(*row) for row in rows]
                stored = self.inputs.add_logs(records)
                self.stored.append(records)
                reply: tuple[str, Any] = ("ok", stored)
            except Exception as exc:  # answered: the server tells its sender
                log.exception("log records not stored")
                reply = ("error", f"{type(exc).__name__}: {exc}")
            stores.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))

    def close(self) -> None:
        self.alerting.stop()
        self.engine.dispose()
