"""The stages that run after the store, on the pipeline's background thread.

Each is a small object with `on_logs(records)` and/or `on_tick(now_ns)`, wired by the runtime:
analysis (windows and detectors → anomalies), then prediction and alerting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Protocol

from premortem.clock import StreamClock
from premortem.detect.analyzer import Analyzer
from premortem.domain import Anomaly, LogRecord, Prediction
from premortem.learn.model import TrainedModel
from premortem.learn.predictor import OnlinePredictor
from premortem.logs.windows import Window
from premortem.store.models import StoredModel

log = logging.getLogger(__name__)


class AnomalySink(Protocol):
    def add_anomalies(self, anomalies: Sequence[Anomaly]) -> int: ...


class WindowSink(Protocol):
    def add(self, windows: Sequence[Window]) -> int: ...


class AnalysisStage:
    """Windows and online detectors over every record; anomalies and closed windows are stored.

    Anomalies are stored as they are found. Closed windows wait in the analyzer's bounded buffer
    until the next tick (at most one a second under load, see Pipeline) and are stored in one
    transaction: storing them per batch made the analysis thread, and the predictions behind it,
    wait on the database's write lock.
    """

    def __init__(
        self,
        analyzer: Analyzer,
        *,
        anomalies: AnomalySink,
        windows: WindowSink,
        clock: StreamClock,
    ) -> None:
        self.analyzer = analyzer
        self._anomalies = anomalies
        self._windows = windows
        self.clock = clock

    def on_logs(self, records: Sequence[LogRecord]) -> None:
        if records:
            self.clock.observe(max(record.time_ns for record in records))
        self._store(self.analyzer.observe(records))

    def on_tick(self, _now_ns: int) -> None:
        # Windows close on stream time, not on the wall clock (see StreamClock).
        now = self.clock.now_ns()
        if now:
            self._store(self.analyzer.tick(now))
        closed = self.analyzer.closed_windows()
        if closed:
            self._windows.add(closed)

    def _store(self, anomalies: list[Anomaly]) -> None:
        if anomalies:
            self._anomalies.add_anomalies(anomalies)


class PredictionSink(Protocol):
    def add_predictions(self, predictions: Sequence[Prediction]) -> int: ...


class AlertSink(Protocol):
    def submit(self, predictions: Sequence[Prediction]) -> object: ...


class ModelSource(Protocol):
    def latest_version(self) -> int: ...

    def latest(self) -> StoredModel | None: ...


class PredictionStage:
    """The online predictor over every record; predictions are stored and handed to alerting.

    The model is whatever training stored last: the stage looks for a newer version every
    `reload_s` seconds (training may run in another process, e.g. `premortem train`).
    """

    def __init__(
        self,
        models: ModelSource,
        *,
        predictions: PredictionSink,
        alerting: AlertSink,
        clock: StreamClock,
        reload_s: float = 5.0,
    ) -> None:
        self._models = models
        self._predictions = predictions
        self._alerting = alerting
        self._clock = clock
        self._reload_ns = int(reload_s * 1e9)
        self._checked_ns = -self._reload_ns
        self.version = 0
        self.predictor: OnlinePredictor | None = None

    def on_logs(self, records: Sequence[LogRecord]) -> None:
        self._reload_if_due()
        if self.predictor is None:
            return
        predictions = self.predictor.observe(records)
        if predictions:
            self._predictions.add_predictions(predictions)
            self._alerting.submit(predictions)

    def on_tick(self, _now_ns: int) -> None:
        self._reload_if_due()

    def reload(self) -> None:
        stored = self._models.latest()
        if stored is None or stored.version == self.version:
            return
        model = TrainedModel.loads(stored.blob)
        self.predictor = OnlinePredictor(model, self._clock)
        self.version = stored.version
        log.info("prediction stage now uses model version %d", stored.version)

    def _reload_if_due(self) -> None:
        now = time.monotonic_ns()
        if now - self._checked_ns < self._reload_ns:
            return
        self._checked_ns = now
        if self._models.latest_version() != self.version:
            self.reload()
