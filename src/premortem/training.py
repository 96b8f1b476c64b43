"""Training from stored history: what `premortem train`, `POST /api/v1/train` and the schedule run.

Reads every test run (with the logs of its time window), event and simulation, the stored failure
modes and the feedback given on alerts; trains the correlation engine; merges the learned modes
into the failure-mode database without touching what people wrote; stores the model as a new
version, which the server's prediction stage picks up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from premortem.alerting.feedback import feedback_for_training
from premortem.alerting.repository import AlertRepository
from premortem.domain import Event, LogRecord, SimulationRun, TestRun, datetime_to_ns
from premortem.learn.merge import merge_modes
from premortem.learn.model import train
from premortem.modes.edit import differs
from premortem.ports import EventQuery, InputStore, LogQuery, SimulationQuery, TestRunQuery
from premortem.store.models import SqlModelRepository
from premortem.store.modes import SqlModeRepository

SECOND = 1_000_000_000
BEFORE_RUN_NS = 60 * SECOND  # logs just before a run started still describe its baseline
AFTER_FAILURE_NS = 60 * SECOND
AFTER_END_NS = 5 * SECOND  # rollbacks and queues settle for a few seconds after a run ends
DEFAULT_RUN_NS = 15 * 60 * SECOND
PAGE = 1000
MODEL_KIND = "correlation-engine"


@dataclass(slots=True)
class TrainingResult:
    version: int
    modes: int
    created: int
    updated: int
    stats: dict[str, Any]


def run_window_ns(run: TestRun) -> tuple[int, int]:
    """The stretch of time whose logs belong to a test run (see `run_windows_ns` for a suite).

    A passing run whose duration is known (`duration_s` in its parameters, or a tool's own
    `duration_s`, e.g. a Chaos Toolkit journal's) ends a few seconds after it did, not 15 minutes
    later: otherwise the failures of the runs that followed it would count as seen in a passing run.
    """
    start = datetime_to_ns(run.timestamp)
    known_end = run_end_ns(run)
    ends = [start + DEFAULT_RUN_NS if known_end is None else known_end + AFTER_END_NS]
    if run.failure_time is not None:
        ends = [datetime_to_ns(run.failure_time) + AFTER_FAILURE_NS]
        if known_end is not None:
            ends.append(known_end)
    return start - BEFORE_RUN_NS, max(ends)


def run_end_ns(run: TestRun) -> int | None:
    """When the run ended, if its duration is known."""
    for duration in (run.parameters.get("duration_s"), (run.model_extra or {}).get("duration_s")):
        if isinstance(duration, int | float) and not isinstance(duration, bool) and duration > 0:
            return datetime_to_ns(run.timestamp) + int(duration * SECOND)
    return None


def run_windows_ns(runs: Sequence[TestRun]) -> dict[str, tuple[int, int]]:
    """Every run's window, cut where the previous run of the same service ended and where the
    next one began: in a suite run back to back (chaos experiments), the minute before a run
    is the previous run's fault, not this run's baseline, and must not be learned as healthy."""
    windows = {run.test_id: run_window_ns(run) for run in runs}
    by_service: dict[str, list[TestRun]] = {}
    for run in runs:
        by_service.setdefault(run.service or "", []).append(run)
    for group in by_service.values():
        group.sort(key=lambda r: datetime_to_ns(r.timestamp))
        for previous, current in pairwise(group):
            start = datetime_to_ns(current.timestamp)
            ended = run_end_ns(previous)
            since, until = windows[current.test_id]
            if ended is not None and since < ended:
                windows[current.test_id] = (min(ended, start), until)
            before, after = windows[previous.test_id]
            if after > start > datetime_to_ns(previous.timestamp):
                windows[previous.test_id] = (before, start)
    return windows


class RunLogs(Mapping[str, Sequence[LogRecord]]):
    """Lazy run id → log records of its window (each run is read once by training)."""

    def __init__(self, store: InputStore, runs: Sequence[TestRun]) -> None:
        self._store = store
        self._runs = {run.test_id: run for run in runs}
        self._windows = run_windows_ns(runs)

    def __getitem__(self, test_id: str) -> Sequence[LogRecord]:
        run = self._runs[test_id]
        since, until = self._windows[test_id]
        query = LogQuery(
            service=run.service or None, since_ns=since, until_ns=until, newest_first=False
        )
        return list(pages(lambda offset: self._store.list_logs(_at(query, offset)).items))

    def __iter__(self) -> Iterator[str]:
        return iter(self._runs)

    def __len__(self) -> int:
        return len(self._runs)


def _at(query: LogQuery, offset: int) -> LogQuery:
    query.limit, query.offset = PAGE, offset
    return query


def pages(fetch: Callable[[int], Sequence[Any]]) -> Iterator[Any]:
    offset = 0
    while True:
        items = fetch(offset)
        yield from items
        if len(items) < PAGE:
            return
        offset += PAGE


class Trainer:
    def __init__(
        self,
        *,
        inputs: InputStore,
        modes: SqlModeRepository,
        alerts: AlertRepository,
        models: SqlModelRepository,
        horizon_s: float = 300.0,
    ) -> None:
        self._inputs = inputs
        self._modes = modes
        self._alerts = alerts
        self._models = models
        self._horizon_s = horizon_s

    def run(self, *, progress: Callable[[str], None] | None = None) -> TrainingResult:
        runs = [
            s.run
            for s in pages(
                lambda o: self._inputs.list_test_runs(TestRunQuery(limit=PAGE, offset=o)).items
            )
        ]
        events: list[Event] = list(
            pages(lambda o: self._inputs.list_events(EventQuery(limit=PAGE, offset=o)).items)
        )
        simulations: list[SimulationRun] = list(
            pages(
                lambda o: self._inputs.list_simulations(SimulationQuery(limit=PAGE, offset=o)).items
            )
        )
        stored = self._modes.all_modes()
        model = train(
            runs,
            RunLogs(self._inputs, runs),
            events,
            simulations,
            manual_modes=stored,
            feedback=feedback_for_training(self._alerts),
            horizon_s=self._horizon_s,
            progress=progress,
        )
        created, updated = self._save_modes(stored, merge_modes(stored, model.modes))
        summary = {**model.stats, "modes": len(model.modes), "threshold": model.alert_threshold}
        version = self._models.save(model.dumps(), kind=MODEL_KIND, summary=summary)
        return TrainingResult(version, len(model.modes), created, updated, summary)

    def _save_modes(self, before: Sequence[Any], after: Sequence[Any]) -> tuple[int, int]:
        previous = {mode.id: mode for mode in before}
        created = updated = 0
        for mode in after:
            old = previous.get(mode.id)
            if old is None:
                self._modes.save_mode(mode, change="learned")
                created += 1
            elif differs(old, mode):
                self._modes.save_mode(mode, change="retrained")
                updated += 1
        return created, updated
