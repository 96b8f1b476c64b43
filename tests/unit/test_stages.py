"""The stages after the store: windows close per source on that source's time; one alert
threshold (the model's, or PREMORTEM_ALERT_THRESHOLD) for the predictor and for alerting."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import pytest

from premortem.alerting import AlertingService, MemoryAlertStore
from premortem.clock import Clock, ManualClock, SourceClock, StreamClocks
from premortem.counts import Window
from premortem.detect.analyzer import Analyzer, AnalyzerConfig
from premortem.domain import Anomaly, FailureMode, LogRecord, Prediction
from premortem.learn.model import TrainedModel
from premortem.learn.network import ModeNetwork
from premortem.learn.predictor import ObservedFailure
from premortem.learn.rows import IndicatorSet
from premortem.logs.miner import PrefixTreeMiner
from premortem.runtime.analysis import AnalysisStage, PredictionStage
from premortem.store.models import StoredModel

S = 1_000_000_000
MODE = FailureMode(id="db_pool", name="DB pool exhaustion", severity="warning", service="db")


# --------------------------------------------------------------------------- analysis


class Sink:
    def __init__(self) -> None:
        self.windows: list[Window] = []
        self.anomalies: list[Anomaly] = []

    def add(self, windows: Sequence[Window]) -> int:
        self.windows.extend(windows)
        return len(windows)

    def add_anomalies(self, anomalies: Sequence[Anomaly]) -> int:
        self.anomalies.extend(anomalies)
        return len(anomalies)


def records(service: str, start_s: int, end_s: int, *, step_s: int = 1) -> list[LogRecord]:
    return [
        LogRecord(time_ns=t * S, body=f"{service} ok", service=service, template_id=1)
        for t in range(start_s, end_s, step_s)
    ]


def analysis() -> tuple[AnalysisStage, Sink, ManualClock]:
    mono = ManualClock(0)
    sink = Sink()
    stage = AnalysisStage(
        Analyzer(AnalyzerConfig(window_s=10)),
        anomalies=sink,
        windows=sink,
        clocks=StreamClocks(mono),
    )
    return stage, sink, mono


def feed(stage: AnalysisStage, mono: ManualClock, batch: list[LogRecord]) -> None:
    stage.on_logs(batch)
    mono.advance(0.1)
    stage.on_tick(0)


def spans(windows: Iterable[Window], service: str) -> list[tuple[int, int, int]]:
    return [(w.start_ns // S, w.end_ns // S, w.total) for w in windows if w.service == service]


def test_an_older_source_closes_its_windows_on_its_own_time() -> None:
    stage, sink, mono = analysis()
    feed(stage, mono, records("a", 1000, 1005))
    feed(stage, mono, records("b", 10, 15))  # older than anything a said
    feed(stage, mono, records("b", 15, 36))

    assert spans(sink.windows, "b") == [(10, 20, 10), (20, 30, 10)]
    assert stage.analyzer.windows.late == 0, "none of b's records was dropped as late"
    assert spans(sink.windows, "a") == [], "b's records did not move a's time"

    mono.advance(10)  # quiet: a's time moves on at wall-clock pace since its last record
    stage.on_tick(0)
    assert spans(sink.windows, "a") == [(1000, 1010, 5)]
    assert spans(sink.windows, "b")[-1] == (30, 40, 6)  # b's quiet time closes its own too


def test_a_replay_of_old_logs_after_newer_ones_gives_the_windows_of_an_in_order_replay() -> None:
    old = records("replayed", 0, 300, step_s=2)
    batches = [old[i : i + 20] for i in range(0, len(old), 20)]

    alone, alone_sink, alone_mono = analysis()
    for batch in batches:
        feed(alone, alone_mono, batch)

    after, after_sink, after_mono = analysis()
    feed(after, after_mono, records("live", 50_000, 50_100))
    for batch in batches:
        feed(after, after_mono, batch)
        feed(after, after_mono, records("live", 50_100, 50_102))  # live keeps going meanwhile

    assert spans(after_sink.windows, "replayed") == spans(alone_sink.windows, "replayed")
    assert len(spans(alone_sink.windows, "replayed")) == 29


# --------------------------------------------------------------------------- prediction


class Models:
    def __init__(
        self,
        threshold: float,
        by_mode: dict[str, float] | None = None,
        stats: dict[str, int] | None = None,
    ) -> None:
        model = TrainedModel(
            modes=[MODE],
            miner=PrefixTreeMiner(),
            indicators=IndicatorSet([], set()),
            network=ModeNetwork([], []),
            alert_threshold=threshold,
            mode_thresholds=by_mode or {},
            stats=dict(stats or {}),
        )
        self.stored = StoredModel(1, 0, "test", model.dumps(), {})

    def latest_version(self) -> int:
        return self.stored.version

    def latest(self) -> StoredModel | None:
        return self.stored


class FakePredictor:
    """Says `probability` for db_pool on every "precursor" line, at the record's time; like the
    real predictor, only when that is at least its threshold: `min_probability` when given, else
    the model's for the mode (unless told to ignore it)."""

    made: ClassVar[list[FakePredictor]] = []

    def __init__(
        self,
        model: TrainedModel,
        clock: Clock,
        *,
        min_probability: float | None,
        probability: float = 0.35,
        filter: bool = True,
    ) -> None:
        self.model = model
        self.clock = clock
        self.min_probability = min_probability
        self.threshold = model.threshold_of(MODE.id) if min_probability is None else min_probability
        self.probability = probability
        self.filter = filter
        self.seen_now: list[tuple[str, int]] = []
        self.passed: list[int] = []
        self.opened: list[Prediction] = []
        FakePredictor.made.append(self)

    def observed_failures(self) -> list[ObservedFailure]:
        return []  # this fake never sees a failure's own lines

    def pass_time(self, now_ns: int) -> list[Prediction]:
        """Like the real one: evidence older than 30 s of stream time expires and closes."""
        self.passed.append(now_ns)
        if not self.opened or now_ns - self.opened[-1].time_ns <= 30 * S:
            return []
        last, self.opened = self.opened[-1], []
        closes = {"time_ns": now_ns, "evidence": {"closes": "evidence expired"}}
        return [last.model_copy(update=closes)]

    def observe(self, records: Iterable[LogRecord]) -> list[Prediction]:
        out = []
        for record in records:
            if "precursor" in record.body and (
                not self.filter or self.probability >= self.threshold
            ):
                out.append(self._prediction(record))
        self.opened += out
        assert isinstance(self.clock, SourceClock)
        self.seen_now.append((self.clock.source, self.clock.now_ns()))
        return out

    def _prediction(self, record: LogRecord) -> Prediction:
        return Prediction(
            id=f"p-{record.time_ns}",
            time_ns=record.time_ns,
            mode_id=MODE.id,
            service=MODE.service,
            probability=self.probability,
            horizon_s=60,
        )


class Predictions:
    def __init__(self) -> None:
        self.items: list[Prediction] = []

    def add_predictions(self, predictions: Sequence[Prediction]) -> int:
        self.items.extend(predictions)
        return len(predictions)


def prediction_stage(
    *,
    model_threshold: float,
    override: float | None = None,
    filter: bool = True,
    by_mode: dict[str, float] | None = None,
) -> tuple[PredictionStage, AlertingService, StreamClocks, ManualClock]:
    mono = ManualClock(0)
    clocks = StreamClocks(mono)
    alerting = AlertingService(
        MemoryAlertStore(),
        routes=[],
        modes={MODE.id: MODE}.get,
        clock=clocks.newest(),
        stream_time=clocks.now_ns,
    )

    def make(model: TrainedModel, clock: Clock, *, min_probability: float | None) -> FakePredictor:
        return FakePredictor(model, clock, min_probability=min_probability, filter=filter)

    stage = PredictionStage(
        Models(model_threshold, by_mode),
        predictions=Predictions(),
        alerting=alerting,
        clocks=clocks,
        alert_threshold=override,
        predictor=make,
    )
    return stage, alerting, clocks, mono


def line(service: str, time_s: int, body: str = "precursor: pool wait") -> LogRecord:
    return LogRecord(time_ns=time_s * S, body=body, service=service, severity_number=13)


def firing(alerting: AlertingService) -> list[str]:
    return [a.mode_id for a in alerting.store.firing_alerts()]


def test_the_learned_threshold_is_the_one_used_live() -> None:
    stage, alerting, _, _ = prediction_stage(model_threshold=0.3)
    stage.on_logs([line("db", 100)])
    assert stage.threshold is not None
    assert (stage.threshold.value, stage.threshold.source) == (0.3, "learned by model v1")
    assert FakePredictor.made[-1].threshold == 0.3
    assert alerting.policy.default.threshold == 0.3
    assert firing(alerting) == ["db_pool"], "0.35 is above the model's 0.3: it alerts"


@pytest.mark.parametrize(("own", "alerts"), [(0.3, True), (0.4, False)])
def test_a_mode_alerts_at_its_own_learned_threshold(own: float, alerts: bool) -> None:
    # Another mode's threshold is the lowest: alerting lets through what reaches it, and the
    # predictor holds each mode to its own.
    stage, alerting, _, _ = prediction_stage(
        model_threshold=0.5, by_mode={MODE.id: own, "fm-other": 0.2}
    )
    stage.on_logs([line("db", 100)])
    assert stage.threshold is not None
    assert stage.threshold.value == 0.2 and stage.threshold.by_mode[MODE.id] == own
    assert FakePredictor.made[-1].min_probability is None
    assert FakePredictor.made[-1].threshold == own
    assert alerting.policy.default.threshold == 0.2
    assert firing(alerting) == (["db_pool"] if alerts else [])


@pytest.mark.parametrize("filter", [True, False], ids=["predictor", "alert-policy"])
def test_the_setting_overrides_the_learned_threshold(filter: bool) -> None:
    # Both the predictor and the alert policy hold the setting: neither lets 0.35 through.
    stage, alerting, _, _ = prediction_stage(model_threshold=0.3, override=0.4, filter=filter)
    stage.on_logs([line("db", 100)])
    assert stage.threshold is not None
    assert stage.threshold.source == "set by PREMORTEM_ALERT_THRESHOLD"
    assert FakePredictor.made[-1].threshold == 0.4
    assert alerting.policy.default.threshold == 0.4
    assert firing(alerting) == []


def stage_after_training(
    stats: dict[str, Any], newest: dict[str, int], predictor: Any = None
) -> tuple[PredictionStage, AlertingService, StreamClocks]:
    """A prediction stage whose model's summary says `stats`, on a stream whose sources have
    reached `newest` (source -> time)."""
    clocks = StreamClocks(ManualClock(0))
    for source, time_ns in newest.items():
        clocks.observe(source, time_ns)
    alerting = AlertingService(
        MemoryAlertStore(), routes=[], modes={MODE.id: MODE}.get, clock=clocks.newest()
    )
    extra = {"predictor": predictor} if predictor is not None else {}
    stage = PredictionStage(
        Models(0.3, stats=stats),
        predictions=Predictions(),
        alerting=alerting,
        clocks=clocks,
        **extra,
    )
    return stage, alerting, clocks


def test_a_model_trained_until_a_time_takes_stream_time_back_there() -> None:
    # `POST /api/v1/train?until=T` after the whole recording was sent: the lines after T, sent
    # again, are the model's live stream, however close to the newest line they are.
    stage, _, clocks = stage_after_training(
        {"trained_until_ns": 900 * S}, {"api": 1_000 * S, "db": 400 * S}
    )
    stage.reload()
    assert (clocks.now_ns("api"), clocks.now_ns("db")) == (900 * S, 400 * S)
    stage.on_logs([line("api", 950, "ok")])
    assert clocks.now_ns("api") == 950 * S


def test_what_a_model_trained_on_everything_learned_from_is_not_predicted_on_again() -> None:
    # A plain `train` learned from each source's records up to the newest it read of it
    # (`learned_until_ns`; per source, so one whose clock runs behind keeps its next lines).
    # A shipper restarted without its position sends them again: the new model must not alert
    # on them (a trial's did, and stored its trained failures as "seen live"). Stream time
    # stays where it is: only `until` takes it back.
    stage, alerting, clocks = stage_after_training(
        {"learned_until_ns": {"db": 900 * S, "api": 2_000 * S}},
        {"db": 1_000 * S},
        predictor=FakePredictor,
    )
    stage.reload()
    assert clocks.now_ns("db") == 1_000 * S
    stage.on_logs([line("db", 500), line("db", 899)])
    assert firing(alerting) == [], "what it trained on, sent again"
    stage.on_logs([line("db", 1_001)])
    assert firing(alerting) == ["db_pool"], "a line after what it learned from is live"


def test_the_predictor_reads_the_time_of_the_source_it_was_given() -> None:
    stage, _, _, mono = prediction_stage(model_threshold=0.3)
    stage.on_logs([line("a", 1000, "ok"), line("a", 1001, "ok"), line("b", 10, "ok")])
    mono.advance(1)
    stage.on_logs([line("b", 11, "ok")])
    predictor = FakePredictor.made[-1]
    assert predictor.seen_now == [("a", 1001 * S), ("b", 10 * S), ("b", 11 * S)]
    mono.advance(2)
    stage.on_logs([])
    assert predictor.seen_now[-1] == ("b", 13 * S), "quiet: b's time, moved on by the wall clock"


def test_an_alert_expires_on_the_time_of_its_own_source() -> None:
    stage, alerting, clocks, mono = prediction_stage(model_threshold=0.3)
    stage.on_logs([line("b", 10)])  # the alert's evidence: source b at 10 s
    assert firing(alerting) == ["db_pool"]

    stage.on_logs([line("a", 100_000, "ok")])  # a newer source says nothing about b
    alerting.tick()
    assert firing(alerting) == ["db_pool"]

    stage.on_logs([line("b", 10 + 61, "ok")])  # b's own time passes the 60 s horizon
    alerting.tick()
    assert firing(alerting) == []
    assert clocks.now_ns("b") == 71 * S and mono.now_ns() == 0


def test_time_passing_closes_what_a_quiet_source_kept_open() -> None:
    """Every source quiet: the tick hands the predictor the stream's time (moved on at wall
    pace), and what its expired evidence kept open resolves."""
    stage, alerting, clocks, mono = prediction_stage(model_threshold=0.3)
    stage.on_logs([line("b", 10)])
    assert firing(alerting) == ["db_pool"]
    mono.advance(20)
    stage.on_tick(0)
    assert FakePredictor.made[-1].passed == [30 * S] and firing(alerting) == ["db_pool"]
    mono.advance(11)
    stage.on_tick(0)
    assert FakePredictor.made[-1].passed[-1] == clocks.newest_ns() == 41 * S
    assert firing(alerting) == []
