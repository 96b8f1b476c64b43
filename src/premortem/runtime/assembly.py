"""Assembly: builds every part premortem runs with from `Settings`, in one readable place.

The HTTP service, the worker and the CLI are thin shells over `build_runtime(settings)`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from premortem.alerting import AlertingService
from premortem.clock import Clock, StreamClocks, SystemClock
from premortem.config import Settings
from premortem.detect.analyzer import Analyzer, AnalyzerConfig
from premortem.domain import Template
from premortem.errors import NotFound
from premortem.logs.catalog import TemplateCatalog
from premortem.runtime.analysis import AlertThreshold, AnalysisStage, PredictionStage
from premortem.runtime.jobs import command_job, simulation_job, train_job
from premortem.runtime.pipeline import Pipeline, Stages
from premortem.runtime.scheduler import Schedule, Scheduler
from premortem.runtime.training import Trainer
from premortem.store.alerts import AlertStore
from premortem.store.anomalies import SqlAnomalyRepository
from premortem.store.engine import make_engine, migrate
from premortem.store.inputs import SqlInputStore
from premortem.store.models import SqlModelRepository
from premortem.store.modes import SqlModeRepository, SqlPredictionRepository
from premortem.store.overview import SqlOverview
from premortem.store.schedules import SqlScheduleRepository
from premortem.store.tables_series import SqlSeriesStore
from premortem.store.tables_windows import SqlWindowRepository
from premortem.store.templates import SqlTemplateRepository

if TYPE_CHECKING:
    from premortem.runtime.analysis_process import AnalysisProcess
    from premortem.runtime.handoff import BusHandoff


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    clock: Clock
    pipeline: Pipeline
    templates: SqlTemplateRepository
    modes: SqlModeRepository
    predictions: SqlPredictionRepository
    anomalies: SqlAnomalyRepository
    windows: SqlWindowRepository
    overview: SqlOverview
    stream_clocks: StreamClocks
    analysis: AnalysisStage | None  # None when `analysis_process` runs it
    alerting: AlertingService
    models: SqlModelRepository
    prediction: PredictionStage
    trainer: Trainer
    schedules: SqlScheduleRepository
    scheduler: Scheduler
    handoff: BusHandoff | None = None
    analysis_process: AnalysisProcess | None = None

    def template(self, template_id: int) -> Template | None:
        """A template by id: this process's miner's, or in scale-out the one a worker saved."""
        found = self.pipeline.catalog.get(template_id)
        if found is None and self.handoff is not None:
            with contextlib.suppress(NotFound):
                found = self.templates.get_template(template_id)
        return found

    def alert_threshold(self) -> AlertThreshold:
        """The probability at which predictions alert now, and where that number came from."""
        in_use = self.prediction.threshold
        if in_use is None:
            return AlertThreshold(self.alerting.policy.default.threshold, "default: no model yet")
        return in_use

    def sizes(self) -> dict[str, int]:
        """Entries held by each bounded in-memory map, for /metrics: the template catalogue,
        the analysis, the queue in front of it and the per-source stream clocks."""
        sizes = {f"catalog_{k}": v for k, v in self.pipeline.catalog.sizes().items()}
        if self.analysis_process is not None:
            sizes.update(self.analysis_process.sizes)
        if self.analysis is not None:
            sizes.update({f"analysis_{k}": v for k, v in self.analysis.analyzer.sizes().items()})
        sizes["analysis_queue_batches"] = self.pipeline.queued()
        sizes["stream_clock_sources"] = len(self.stream_clocks.sources())
        return sizes

    def start(self) -> None:
        for schedule in _configured_schedules(self.settings):
            self.schedules.put_schedule(schedule)
        self.alerting.start()
        if self.analysis_process is not None:
            self.prediction.reload()  # the model the API serves; the child loads its own
            self.analysis_process.start()
        self.pipeline.start()
        self.scheduler.start()

    def reload_model(self) -> None:
        """Predict with the newest stored model now (after a training)."""
        _reload_model(self.prediction, self.analysis_process)

    def stop(self) -> None:
        self.scheduler.stop()
        self.pipeline.stop()
        if self.analysis_process is not None:
            self.analysis_process.stop()
        self.alerting.stop()
        if self.handoff is not None:
            self.handoff.close()
        self.engine.dispose()


def _configured_schedules(settings: Settings) -> list[Schedule]:
    configured = list(settings.schedules)
    if settings.train_interval_s:
        configured.append(
            Schedule(name="train", kind="train", interval_s=settings.train_interval_s)
        )
    return configured


def build_runtime(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    clock = clock or SystemClock()
    engine = make_engine(settings.database_url)
    migrate(engine)
    templates = SqlTemplateRepository(engine, clock=clock)
    catalog = TemplateCatalog.restore(templates, max_templates=settings.miner.max_templates)
    anomalies = SqlAnomalyRepository(engine)
    windows = SqlWindowRepository(engine)
    modes = SqlModeRepository(engine, clock=clock)
    # Analysis, prediction and alert expiry run on stream time kept per source, so that replayed
    # history, a late source and live logs behave the same (see StreamClocks).
    stream_clocks = StreamClocks()
    inputs = SqlInputStore(engine, clock=clock)
    side = build_prediction_side(settings, engine, clock, stream_clocks, modes, inputs)
    alert_store, alerting, models, predictions, prediction = side
    handoff = _handoff(settings)
    remote = _analysis_process(settings, prediction, stream_clocks, handoff)
    analysis: AnalysisStage | None = None
    if remote is not None:
        # The child analyses; this process's prediction stage serves the model to the API and
        # lets its view of the open predictions (fed by the child) lapse with stream time.
        stages = Stages(
            on_logs=[remote.on_logs],
            on_tick=[remote.on_tick, prediction.on_tick],
            on_series=[remote.on_series],
        )
    else:
        if handoff is None:  # this process predicts on the logs (scale-out: the workers do)
            prediction.follow_runs(inputs)
        analysis = build_analysis_stage(settings, engine, stream_clocks)
        # Prediction first: it is on the alert path; windows and detectors can wait a moment.
        stages = Stages(
            on_logs=[prediction.on_logs, analysis.on_logs],
            on_tick=[analysis.on_tick, prediction.on_tick],
            on_series=[prediction.on_series],
        )
    pipeline = Pipeline(
        store=inputs,
        catalog=catalog,
        clock=clock,
        stages=stages,
        max_queued_records=settings.analysis_queue_records,
        handoff=handoff,
        store_logs=remote.add_logs if remote else None,
    )
    trainer = Trainer(
        inputs=inputs,
        modes=modes,
        alerts=alert_store,
        models=models,
        horizon_s=settings.horizon_s,
        series=SqlSeriesStore(engine),
    )
    schedules = SqlScheduleRepository(engine, clock=clock)
    jobs = {
        "simulation": simulation_job(pipeline, clock),
        "command": command_job(pipeline, clock),
        "train": train_job(trainer, lambda: _reload_model(prediction, remote)),
    }
    return Runtime(
        settings=settings,
        engine=engine,
        clock=clock,
        pipeline=pipeline,
        templates=templates,
        modes=modes,
        predictions=predictions,
        anomalies=anomalies,
        windows=windows,
        overview=SqlOverview(engine),
        stream_clocks=stream_clocks,
        analysis=analysis,
        alerting=alerting,
        models=models,
        prediction=prediction,
        trainer=trainer,
        schedules=schedules,
        scheduler=Scheduler(schedules, jobs, clock=clock, commands=settings.command_policy()),
        handoff=handoff,
        analysis_process=remote,
    )


def _reload_model(prediction: PredictionStage, remote: AnalysisProcess | None) -> None:
    if remote is not None:
        remote.reload_model()  # here and in the child
    else:
        prediction.reload()


def build_analysis_stage(settings: Settings, engine: Engine, clocks: StreamClocks) -> AnalysisStage:
    """Windows and detectors over every record, storing what they find."""
    return AnalysisStage(
        Analyzer(AnalyzerConfig(window_s=settings.window.seconds)),
        anomalies=SqlAnomalyRepository(engine),
        windows=SqlWindowRepository(engine),
        clocks=clocks,
    )


def _analysis_process(
    settings: Settings,
    prediction: PredictionStage,
    clocks: StreamClocks,
    handoff: BusHandoff | None,
) -> AnalysisProcess | None:
    """Embedded `serve`: windows, detectors, prediction and alerting in a child process."""
    if not settings.analysis_process or handoff is not None:
        return None
    from premortem.runtime.analysis_process import AnalysisProcess

    return AnalysisProcess(settings, prediction, clocks)


PredictionSide = tuple[
    AlertStore, AlertingService, SqlModelRepository, SqlPredictionRepository, PredictionStage
]


def build_prediction_side(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    stream_clocks: StreamClocks,
    modes: SqlModeRepository,
    inputs: SqlInputStore,
) -> PredictionSide:
    """Prediction and alerting: the server's, or in scale-out the worker's that holds the role."""
    alert_store = AlertStore(engine)
    alerting = AlertingService.from_settings(
        settings,
        alert_store,
        modes=modes.find_mode,
        clock=stream_clocks.newest(),
        stream_time=stream_clocks.now_ns,
    )
    models = SqlModelRepository(engine, clock=clock)
    predictions = SqlPredictionRepository(engine)
    prediction = PredictionStage(
        models,
        predictions=predictions,
        alerting=alerting,
        clocks=stream_clocks,
        alert_threshold=settings.alert_threshold,
        failures=inputs,
        events=inputs,
    )
    return alert_store, alerting, models, predictions, prediction


def _handoff(settings: Settings) -> BusHandoff | None:
    """Scale-out: log records go to the bus (workers analyse them), not to this process."""
    if not settings.bus_url:
        return None
    from premortem.runtime.handoff import BusHandoff  # the NATS client only where it is used

    return BusHandoff(
        settings.bus_url,
        name=settings.bus_name,
        partitions=settings.bus_partitions,
        ack_wait_s=settings.bus_ack_wait_s,
    )
