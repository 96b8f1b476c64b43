"""Analysis in a process of its own: what `premortem serve` runs on the embedded default.

One interpreter cannot parse, mine and store the ingest batches while it also runs windows,
detectors, the predictor and alerting (docs/scaling.md: the analysis thread held a fifth of the
server's interpreter). So `serve` starts one child process that owns those stages and stops it
with itself; a user still sees one service.

The server keeps its queue, its bound (HTTP 429 with Retry-After) and its lag metric: the
pipeline's analysis thread hands each stored batch to the child and waits for its answer, so
"analysed" still means stored, windowed, predicted and alerted, and `drain()` still means all of
it. Records cross as tuples of their fields (a third of pickling the objects). The child opens
the same database; the server's own prediction stage only serves the model to the API (What-If,
which version serves) and its alerting only answers the API, as a `serve` does in scale-out.

If the child dies, the batch it held is logged as not analysed (it is stored) and the next batch
starts a new child; when the server dies, the child reads the end of its pipe and exits.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import threading
from collections.abc import Sequence
from dataclasses import fields
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from premortem.domain import LogRecord, MetricSeries, Prediction
from premortem.runtime.analysis import observe_stream_time

if TYPE_CHECKING:
    from premortem.clock import StreamClocks
    from premortem.config import Settings
    from premortem.runtime.analysis import PredictionStage

log = logging.getLogger(__name__)

_FIELDS = tuple(f.name for f in fields(LogRecord))
READY_TIMEOUT_S = 120.0  # the child imports pandas, pgmpy and the store before it answers
STOP_TIMEOUT_S = 15.0

Told = list[tuple[str | None, list[Prediction]]]


class AnalysisProcess:
    """The parent's side: the stages the pipeline runs, carried out by the child process."""

    def __init__(
        self, settings: Settings, prediction: PredictionStage, clocks: StreamClocks
    ) -> None:
        self._settings = settings
        # This process's prediction stage: the model the API serves, and the open predictions
        # /metrics shows (the child tells them; they lapse here on this process's stream time).
        self._prediction = prediction
        self._clocks = clocks
        self._lock = threading.Lock()  # one call on the pipe at a time (a reload vs batches)
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._stopped = False
        self.sizes: dict[str, int] = {}
        self.restarts = 0

    def on_logs(self, records: Sequence[LogRecord]) -> None:
        observe_stream_time(self._clocks, records)
        self._told(self._call("logs", [astuple_fast(r) for r in records]))

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
        with self._lock:
            self._ensure_child()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            process, conn = self._process, self._conn
            self._process = self._conn = None
            if process is None or conn is None:
                return
            try:
                conn.send_bytes(pickle.dumps(("stop", None)))
                conn.recv_bytes()  # the child stored what its stages held
            except (EOFError, OSError):
                pass
            conn.close()
            process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                log.warning("the analysis process did not stop in %.0f s: killed", STOP_TIMEOUT_S)
                process.kill()
                process.join()

    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _call(self, kind: str, payload: Any) -> Any:
        with self._lock:
            if self._stopped:
                raise RuntimeError(f"the analysis process was stopped: {kind!r} not analysed")
            conn = self._ensure_child()
            try:
                conn.send_bytes(pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL))
                status, answer = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError) as exc:
                self._lost()
                raise RuntimeError(f"the analysis process died during {kind!r}") from exc
        if status != "ok":
            raise RuntimeError(f"analysis process: {answer}")
        return answer

    def _ensure_child(self) -> Connection:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            return self._conn
        if self._process is not None:
            self._lost()
        # spawn, not fork: the server has threads (a forked child would inherit held locks).
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=child_main,
            args=(self._settings, theirs),
            name="premortem-analysis",
            daemon=True,
        )
        process.start()
        theirs.close()
        if not ours.poll(READY_TIMEOUT_S):
            process.kill()
            raise RuntimeError("the analysis process did not start")
        ours.recv_bytes()  # ready
        self._process, self._conn = process, ours
        log.info("analysis process %s started", process.pid)
        return ours

    def _lost(self) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is not None:
            process.join(1)
            log.error(
                "the analysis process %s ended (exit code %s): a new one starts with the "
                "next batch",
                process.pid,
                process.exitcode,
            )
            self.restarts += 1


def astuple_fast(record: LogRecord) -> tuple[Any, ...]:
    """A record's fields in `LogRecord` order (dataclasses.astuple copies nested dicts deeply)."""
    return tuple(getattr(record, name) for name in _FIELDS)


def child_main(settings: Settings, conn: Connection) -> None:
    """The child: build the analysis stages on the same database and serve the parent's calls
    until it says stop or its end of the pipe closes."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    stages = _ChildStages(settings)
    conn.send_bytes(b"ready")
    try:
        while True:
            try:
                kind, payload = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):
                return  # the server is gone
            try:
                answer = stages.handle(kind, payload)
                reply: tuple[str, Any] = ("ok", answer)
            except Exception as exc:  # one failing batch must not end analysis
                log.exception("analysis stage failed on %s", kind)
                reply = ("error", f"{type(exc).__name__}: {exc}")
            conn.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
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
        side = build_prediction_side(settings, self.engine, clock, clocks, modes, inputs)
        self.alerting, self.prediction = side[1], side[4]
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
            records = [LogRecord(*row) for row in payload]
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

    def close(self) -> None:
        self.alerting.stop()
        self.engine.dispose()
