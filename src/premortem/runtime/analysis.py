"""The stages that run after the store, on the pipeline's background thread.

Each is a small object with `on_logs(records)` and/or `on_tick(now_ns)`, wired by the runtime:
analysis (windows and detectors → anomalies), then prediction and alerting.

Both run on stream time kept per source (`StreamClocks`): a record's `service` is its source, and
each stage moves the clocks with the records it is given (observing twice is harmless), so a
replay of older logs, or a late source, is judged by its own time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Protocol

import orjson

from premortem.clock import Clock, StreamClocks
from premortem.counts import Window
from premortem.detect.analyzer import Analyzer
from premortem.domain import Anomaly, Event, LogRecord, MetricSeries, Prediction
from premortem.failures import failure_event
from premortem.learn.model import TrainedModel
from premortem.learn.predictor import ObservedFailure, OnlinePredictor
from premortem.learn.run_end import RunEnd
from premortem.runtime.event_evidence import EventSource, add_event_evidence
from premortem.runtime.run_ends import RunSource, StoredRunEnds
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
        clocks: StreamClocks,
    ) -> None:
        self.analyzer = analyzer
        self._anomalies = anomalies
        self._windows = windows
        self.clocks = clocks

    def on_logs(self, records: Sequence[LogRecord]) -> None:
        observe_stream_time(self.clocks, records)
        self._store(self.analyzer.observe(records))

    def on_tick(self, _now_ns: int) -> None:
        # Each source's windows close on that source's stream time, never on the wall clock nor
        # on another source's time (a source not yet observed reads 0 and closes nothing).
        self._store(self.analyzer.tick(self.clocks.now_ns))
        closed = self.analyzer.closed_windows()
        if closed:
            self._windows.add(closed)

    def _store(self, anomalies: list[Anomaly]) -> None:
        if anomalies:
            self._anomalies.add_anomalies(anomalies)


def observe_stream_time(clocks: StreamClocks, records: Sequence[LogRecord]) -> None:
    """Move each source's stream time to its newest record in the batch."""
    observe_newest(clocks, newest_per_source(records))


def observe_newest(clocks: StreamClocks, newest: dict[str, int]) -> None:
    for source, time_ns in newest.items():
        clocks.observe(source, time_ns)


def newest_per_source(records: Sequence[LogRecord]) -> dict[str, int]:
    newest: dict[str, int] = {}
    for record in records:
        if record.time_ns > newest.get(record.service, 0):
            newest[record.service] = record.time_ns
    return newest


class PredictionSink(Protocol):
    def add_predictions(self, predictions: Sequence[Prediction]) -> int: ...


class AlertSink(Protocol):
    def submit(self, predictions: Sequence[Prediction], *, source: str | None = None) -> object: ...

    def use_threshold(self, threshold: float) -> None: ...


class ModelSource(Protocol):
    def latest_version(self) -> int: ...

    def latest(self) -> StoredModel | None: ...


class Predictor(Protocol):
    """What the stage needs of a predictor (`OnlinePredictor`; a fake one in tests)."""

    model: TrainedModel

    def observe(self, records: Iterable[LogRecord]) -> list[Prediction]: ...

    def observe_series(self, series: Iterable[MetricSeries]) -> list[Prediction]: ...

    def observed_failures(self) -> list[ObservedFailure]: ...

    def pass_time(self, now_ns: int) -> list[Prediction]: ...

    def end_runs(self, ends: Iterable[RunEnd], *, started_ns: int = 0) -> list[Prediction]: ...


class FailureSink(Protocol):
    """Where failures seen live are stored (the input store's events)."""

    def add_events(self, events: Sequence[Event]) -> int: ...


class PredictorFactory(Protocol):
    def __call__(
        self, model: TrainedModel, clock: Clock, *, min_probability: float | None
    ) -> Predictor: ...


THRESHOLD_SETTING = "PREMORTEM_ALERT_THRESHOLD"


@dataclass(frozen=True, slots=True)
class AlertThreshold:
    """The probability at which a prediction alerts, and where that number came from."""

    value: float  # the lowest in force: below it nothing alerts
    source: str  # "learned by model v3" or "set by PREMORTEM_ALERT_THRESHOLD"
    # Learned per mode (mode id -> threshold); empty when one value holds for every mode.
    by_mode: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LivePrediction:
    """An open prediction as /metrics shows it: the latest one of its (mode, service)."""

    mode_id: str
    service: str
    mode_name: str
    probability: float
    lead_time_s: float | None
    time_ns: int
    horizon_s: float
    source: str  # the stream whose records made it: its time says when the horizon passed


class LivePredictions:
    """The open predictions, latest per (mode, service): what `GET /metrics` exports.

    A prediction that closes (`evidence["closes"]`) leaves; so does one whose horizon passed on
    its source's stream time with no newer prediction (`lapse`, the rule that resolves its
    alert). At most `max_entries` are kept; when a new one would exceed that, the one updated
    least recently goes (`evicted` counts them). Written by the pipeline's thread, read by the
    scrapes': every access holds a lock.

    >>> live = LivePredictions(max_entries=1)
    >>> live.update([Prediction(id="a", time_ns=0, mode_id="pool", probability=0.8, horizon_s=60)])
    >>> [(p.mode_id, p.probability) for p in live.snapshot()]
    [('pool', 0.8)]
    >>> live.lapse(lambda source: 61 * 10**9), len(live)
    (1, 0)
    """

    def __init__(self, *, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self.evicted = 0
        self._open: OrderedDict[tuple[str, str], LivePrediction] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._open)

    def update(self, predictions: Iterable[Prediction], *, source: str = "") -> None:
        """Predictions as the predictor made them, in order: opened or updated, or closed."""
        with self._lock:
            for p in predictions:
                key = (p.mode_id, p.service)
                self._open.pop(key, None)
                if p.closing:
                    continue
                if len(self._open) >= self.max_entries:
                    self._open.popitem(last=False)  # re-inserted on update: the first is stalest
                    self.evicted += 1
                name = str(p.evidence.get("mode_name") or p.mode_id)
                self._open[key] = LivePrediction(
                    p.mode_id,
                    p.service,
                    name,
                    p.probability,
                    p.lead_time_s,
                    p.time_ns,
                    p.horizon_s,
                    source,
                )

    def lapse(self, now_ns: Callable[[str], int]) -> int:
        """Drops the predictions whose horizon passed on `now_ns(source)`; how many went."""
        with self._lock:
            gone = [
                key
                for key, p in self._open.items()
                if now_ns(p.source) - p.time_ns > p.horizon_s * 1e9
            ]
            for key in gone:
                del self._open[key]
            return len(gone)

    def snapshot(self) -> list[LivePrediction]:
        with self._lock:
            return list(self._open.values())


class PredictionStage:
    """The online predictor over every record; predictions are stored and handed to alerting.

    The model is whatever training stored last: the stage looks for a newer version every
    `reload_s` seconds (training may run in another process, e.g. `premortem train`).

    One set of thresholds: the predictor predicts each mode at the model's learned threshold for
    it, and alerting lets through what reaches the lowest of them; `alert_threshold` (the
    PREMORTEM_ALERT_THRESHOLD setting) overrides them all with one value.

    The predictor's clock is a `SourceClock` that the stage points at the source of each run of
    consecutive records before handing that run over, so its `now_ns()` (used for expiry at the
    end of `observe`) is the stream time of the source whose records it just saw, and the
    predictions of a run are alerted on that source's time.

    Following the stored test runs (`follow_runs`: the stage that predicts on the logs, never a
    process's view of another's), each run's end ends its incident (`run_ends`): looked up when
    a model loads and at every tick, so a run reported when it ends closes the alerts its lines
    raised within a tick, and runs sent before their logs (a replay) close theirs exactly at
    their ends.

    `live` holds the predictions open now, for /metrics (a scrape never queries the database).
    A newer model keeps them: its predictor starts with none open, so they leave when their
    horizon passes, as their alerts resolve.
    """

    def __init__(
        self,
        models: ModelSource,
        *,
        predictions: PredictionSink,
        alerting: AlertSink,
        clocks: StreamClocks,
        alert_threshold: float | None = None,
        reload_s: float = 5.0,
        predictor: PredictorFactory = OnlinePredictor,
        failures: FailureSink | None = None,
        events: EventSource | None = None,
    ) -> None:
        self._models = models
        self._run_ends: StoredRunEnds | None = None
        self._events = events
        self._predictions = predictions
        self._failures = failures
        self._alerting = alerting
        self._clocks = clocks
        self._clock = clocks.of("")
        self._override = alert_threshold
        self.make_predictor = predictor
        self._reload_ns = int(reload_s * 1e9)
        self._checked_ns = -self._reload_ns
        self.version = 0
        self.predictor: Predictor | None = None
        self.threshold: AlertThreshold | None = None
        # A model learned from what came before `until` (or, trained on everything, per source
        # before the newest record it read of it): records from then are its training data, not
        # its live stream, when they are sent again (`reload`). Only `until` takes stream time
        # back.
        self.trained_until_ns: int | None = None
        self.learned_until_ns: dict[str, int] = {}
        self._learned_max_ns = -1  # the latest of those: a batch wholly after it is all live
        self.live = LivePredictions()
        # Told every (source, predictions) alerting is told: the analysis process passes them
        # to the server's `live` (premortem.runtime.analysis_process).
        self.on_told: Callable[[str | None, list[Prediction]], None] | None = None
        if alert_threshold is not None:
            self.threshold = AlertThreshold(alert_threshold, f"set by {THRESHOLD_SETTING}")
            alerting.use_threshold(alert_threshold)

    def follow_runs(self, runs: RunSource) -> None:
        """Tell the predictor the ends of the test runs stored in `runs` (and report a failed
        run's as a failure seen when it ends)."""
        self._run_ends = StoredRunEnds(runs)
        if self.predictor is not None:
            self._end_runs(self.predictor, started=False)

    def on_logs(self, records: Sequence[LogRecord]) -> None:
        self._reload_if_due()
        predictor = self.predictor
        if predictor is None:
            observe_stream_time(self._clocks, records)
            return
        cut = self._learned_max_ns
        if any(r.time_ns < cut for r in records) and any(
            r.time_ns < self._learned_until(r.service) for r in records
        ):
            # The whole recording sent again after `train?until=`: its first part was trained
            # on; predicted on again, every warning line of it opened an alert.
            records = [r for r in records if r.time_ns >= self._learned_until(r.service)]
            if not records:
                return
        told: list[tuple[str | None, list[Prediction]]] = []
        # Runs of consecutive records of one source, in arrival order (never reordered); the
        # source's time moves with each run, so the predictor never reads a time its records
        # have not reached yet. An empty batch still lets it expire evidence (last source).
        runs = groupby(records, key=_source) if records else [(self._clock.source, iter(()))]
        for source, grouped in runs:
            run = list(grouped)
            observe_stream_time(self._clocks, run)
            self._clock.source = source
            predictions = predictor.observe(run)
            if predictions:
                told.append((source, predictions))
        self._store_failures(predictor)
        self._tell(told)

    def on_series(self, series: Sequence[MetricSeries]) -> None:
        """Live metric samples (remote-write): a metric precursor may raise a prediction. The
        samples are judged on their service's stream time, as its log lines are."""
        self._reload_if_due()
        predictor = self.predictor
        if predictor is None:
            return
        told: list[tuple[str | None, list[Prediction]]] = []
        if self._learned_max_ns >= 0:
            # samples from before the end of training, as log records
            series = [
                MetricSeries(s.metric, s.labels, later)
                for s in series
                if (later := [p for p in s.points if p[0] >= self._learned_until(s.service)])
            ]
        for source, grouped in groupby(series, key=lambda s: s.service):
            self._clock.source = source
            predictions = predictor.observe_series(list(grouped))
            if predictions:
                told.append((source, predictions))
        self._tell(told)

    def _learned_until(self, source: str) -> int:
        """Records of `source` before this were what the model learned from (-1: none were)."""
        if self.trained_until_ns is not None:
            return self.trained_until_ns
        return self.learned_until_ns.get(source, -1)

    def _tell(self, told: list[tuple[str | None, list[Prediction]]]) -> None:
        """Store every prediction and hand it to alerting, with the source it was made on (None:
        time passing closed it, on no one source's records). A closing one (`evidence.closes`,
        its probability below the threshold) is stored too, so that the newest prediction of a
        mode says whether it is open (`GET /api/v1/predictions?current=true`, the dashboard)."""
        if told:
            made = [p for _, batch in told for p in batch]
            if self._events is not None and self.predictor is not None:
                add_event_evidence(self._events, self.predictor.model, made)
            self._predictions.add_predictions(made)
            for source, predictions in told:
                self.live.update(predictions, source=source or "")
                self._alerting.submit(predictions, source=source)
                if self.on_told is not None:
                    self.on_told(source, predictions)

    def on_tick(self, _now_ns: int) -> None:
        self._reload_if_due()
        predictor = self.predictor
        if predictor is not None:
            # Quiet sources' evidence expires as the stream's time moves on (wall-clock pace
            # while nothing arrives): what it kept open closes and its alert resolves.
            closed = self._end_runs(predictor) + predictor.pass_time(self._clocks.newest_ns())
            if closed:
                self._tell([(None, closed)])
            self._store_failures(predictor)  # a failed run's report, at its end
        self.live.lapse(self._clocks.now_ns)

    def _end_runs(self, predictor: Predictor, *, started: bool = True) -> list[Prediction]:
        """Tell the predictor the ends of the test runs stored near the stream's time (a new
        predictor, `started=False`: it started now)."""
        newest = self._clocks.newest_ns()
        if self._run_ends is None or not newest:
            return []  # nothing received yet: no stream time to look near
        ends = self._run_ends.near(newest, every=not started)
        return predictor.end_runs(ends, started_ns=0 if started else newest)

    def _store_failures(self, predictor: Predictor) -> None:
        """A mode's manifestation seen live is a failure: stored as one (premortem.failures)."""
        observed = predictor.observed_failures()
        if not observed or self._failures is None:
            return
        names = {m.id: m.name for m in predictor.model.modes}
        self._failures.add_events([failure_event(o, names.get(o.mode_id, "")) for o in observed])

    def snapshot(self) -> bytes | None:
        """The predictor's live state and the model version it belongs to, for a checkpoint
        (None without a model, or with a predictor that cannot say its state)."""
        predictor = self.predictor
        if not isinstance(predictor, OnlinePredictor):
            return None
        return orjson.dumps({"model_version": self.version}) + b"\n" + predictor.state()

    def resume(self, snapshot: bytes | None) -> bool:
        """Start over from the newest model, with the state of `snapshot` when it belongs to that
        model (a checkpoint of another process); True when it was restored."""
        self.predictor, self.version = None, 0
        self.reload()
        if snapshot is None or not isinstance(self.predictor, OnlinePredictor):
            return False
        header, _, state = snapshot.partition(b"\n")
        if orjson.loads(header).get("model_version") != self.version:
            return False  # a newer model: its predictor starts with no evidence
        self.predictor.restore(state)
        return True

    def reload(self) -> None:
        stored = self._models.latest()
        if stored is None or stored.version == self.version:
            return
        model = TrainedModel.loads(stored.blob)
        threshold = self._threshold_for(model, stored.version)
        self.predictor = self.make_predictor(model, self._clock, min_probability=self._override)
        until = model.stats.get("trained_until_ns")
        self.trained_until_ns = int(until) if until is not None else None
        learned = model.stats.get("learned_until_ns")  # per source: the newest it read, + 1
        self.learned_until_ns = (
            {str(k): int(v) for k, v in learned.items()} if isinstance(learned, dict) else {}
        )
        self._learned_max_ns = (
            self.trained_until_ns
            if self.trained_until_ns is not None
            else max(self.learned_until_ns.values(), default=-1)
        )
        if until is not None:
            # Trained on what came before `until`: what came after, received already or not, is
            # what it predicts on, as live (clock.StreamClocks.go_back_to).
            moved = self._clocks.go_back_to(int(until))
            if moved:
                log.info("stream time of %d sources back to the end of training", len(moved))
        self._end_runs(self.predictor, started=False)
        self._alerting.use_threshold(threshold.value)
        self.threshold = threshold
        self.version = stored.version
        log.info(
            "prediction stage now uses model version %d, alert threshold %.2f (%s)",
            stored.version,
            threshold.value,
            threshold.source,
        )

    def _threshold_for(self, model: TrainedModel, version: int) -> AlertThreshold:
        if self._override is not None:
            return AlertThreshold(self._override, f"set by {THRESHOLD_SETTING}")
        return AlertThreshold(
            model.lowest_threshold, f"learned by model v{version}", dict(model.mode_thresholds)
        )

    def _reload_if_due(self) -> None:
        now = time.monotonic_ns()
        if now - self._checked_ns < self._reload_ns:
            return
        self._checked_ns = now
        if self._models.latest_version() != self.version:
            self.reload()


def _source(record: LogRecord) -> str:
    return record.service
