"""Assembly: builds every part premortem runs with from `Settings`, in one readable place.

The HTTP service, the worker and the CLI are thin shells over `build_runtime(settings)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from premortem.alerting import AlertingService
from premortem.alerting.sql import AlertStore
from premortem.clock import Clock, StreamClock, SystemClock
from premortem.config import Settings
from premortem.detect.analyzer import Analyzer, AnalyzerConfig
from premortem.logs.catalog import TemplateCatalog
from premortem.pipeline import Pipeline, Stages
from premortem.stages import AnalysisStage
from premortem.store.anomalies import SqlAnomalyRepository
from premortem.store.engine import make_engine, migrate
from premortem.store.inputs import SqlInputStore
from premortem.store.modes import SqlModeRepository, SqlPredictionRepository
from premortem.store.tables_windows import SqlWindowRepository
from premortem.store.templates import SqlTemplateRepository


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
    analysis: AnalysisStage
    alerting: AlertingService

    def start(self) -> None:
        self.alerting.start()
        self.pipeline.start()

    def stop(self) -> None:
        self.pipeline.stop()
        self.alerting.stop()
        self.engine.dispose()


def build_runtime(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    clock = clock or SystemClock()
    engine = make_engine(settings.database_url)
    migrate(engine)
    templates = SqlTemplateRepository(engine, clock=clock)
    catalog = TemplateCatalog.restore(templates, max_templates=settings.miner.max_templates)
    anomalies = SqlAnomalyRepository(engine)
    windows = SqlWindowRepository(engine)
    modes = SqlModeRepository(engine, clock=clock)
    # Analysis and alerting run on stream time, so that replayed history and live logs behave
    # the same (see StreamClock).
    stream_clock = StreamClock()
    analysis = AnalysisStage(
        Analyzer(AnalyzerConfig(window_s=settings.window.seconds)),
        anomalies=anomalies,
        windows=windows,
        clock=stream_clock,
    )
    alerting = AlertingService.from_settings(
        settings, AlertStore(engine), modes=modes.find_mode, clock=stream_clock
    )
    stages = Stages(on_logs=[analysis.on_logs], on_tick=[analysis.on_tick])
    pipeline = Pipeline(
        store=SqlInputStore(engine, clock=clock), catalog=catalog, clock=clock, stages=stages
    )
    return Runtime(
        settings=settings,
        engine=engine,
        clock=clock,
        pipeline=pipeline,
        templates=templates,
        modes=modes,
        predictions=SqlPredictionRepository(engine),
        anomalies=anomalies,
        windows=windows,
        analysis=analysis,
        alerting=alerting,
    )
