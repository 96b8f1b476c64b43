"""Training from stored history: what `premortem train`, `POST /api/v1/train` and the schedule run.

Reads every test run (with the logs and metric series of its time window), event and simulation,
the stored failure
modes and the feedback given on alerts; trains the correlation engine; merges the learned modes
into the failure-mode database without touching what people wrote; stores the model as a new
version, which the server's prediction stage picks up.
"""

from __future__ import annotations

import contextlib
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from premortem.alerting.feedback import feedback_for_training
from premortem.alerting.repository import AlertRepository
from premortem.domain import (
    Event,
    LogRecord,
    MetricSeries,
    SimulationRun,
    TestRun,
    datetime_to_ns,
    rfc3339_ns,
)
from premortem.errors import Conflict, NotFound
from premortem.failures import is_failure_event
from premortem.intervals import Intervals
from premortem.learn.merge import merge_modes, retired_modes
from premortem.learn.model import train
from premortem.modes.edit import differs
from premortem.ports import (
    EventQuery,
    InputStore,
    LogQuery,
    SeriesStore,
    SimulationQuery,
    TestRunQuery,
)
from premortem.store.models import SqlModelRepository
from premortem.store.modes import SqlModeRepository

SECOND = 1_000_000_000
AFTER_FAILURE_NS = 60 * SECOND
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
    retired: int = 0


def run_end_ns(run: TestRun) -> int | None:
    """When the run ended, if it says: `ended_at`, else `duration_s` (top level or, as tools
    such as k6 write it, in its parameters)."""
    if run.ended_at is not None:
        return datetime_to_ns(run.ended_at)
    for duration in (run.duration_s, run.parameters.get("duration_s")):
        if isinstance(duration, int | float) and not isinstance(duration, bool) and duration > 0:
            return datetime_to_ns(run.timestamp) + int(duration * SECOND)
    return None


def run_window_ns(run: TestRun) -> tuple[int, int]:
    """The stretch of time whose logs belong to one run, on its own (see `run_windows_ns`).

    From its `timestamp` to its end (`ended_at` / `duration_s`); without an end, to a minute
    after `failure_time`, else 15 minutes.
    """
    start = datetime_to_ns(run.timestamp)
    end = run_end_ns(run)
    if end is None:
        end = (
            datetime_to_ns(run.failure_time) + AFTER_FAILURE_NS
            if run.failure_time is not None
            else start + DEFAULT_RUN_NS
        )
    return start, max(end, start + 1)


def run_windows_ns(runs: Sequence[TestRun]) -> dict[str, tuple[int, int]]:
    """Every run's window, cut where the next run whose services overlap begins.

    Runs never share a log line: in a suite run back to back (chaos experiments), what follows
    a run's end is the next run's baseline, and what precedes its start belongs to the run
    before. Two runs overlap unless both name disjoint `services`.
    """
    ordered = sorted(runs, key=lambda r: (datetime_to_ns(r.timestamp), r.test_id))
    windows = {run.test_id: run_window_ns(run) for run in ordered}
    for i, run in enumerate(ordered):
        since, until = windows[run.test_id]
        for later in ordered[i + 1 :]:
            start = datetime_to_ns(later.timestamp)
            if start >= until:
                break
            if start > since and _overlap(run, later):
                until = start
                break
        windows[run.test_id] = (since, until)
    return windows


def _overlap(a: TestRun, b: TestRun) -> bool:
    return a.services is None or b.services is None or bool(set(a.services) & set(b.services))


def logs_by_run(
    runs: Sequence[TestRun], records: Sequence[LogRecord], *, windows: dict[str, tuple[int, int]]
) -> dict[str, list[LogRecord]]:
    """`RunLogs` over records in memory (sorted by time): each run's records by the same rule."""
    times = [record.time_ns for record in records]
    out = {}
    for run in runs:
        since, until = windows[run.test_id]
        inside = records[bisect_left(times, since) : bisect_left(times, until)]
        services = set(run.services) if run.services is not None else None
        out[run.test_id] = [r for r in inside if services is None or r.service in services]
    return out


def series_by_run(
    store: SeriesStore | None,
    runs: Sequence[TestRun],
    windows: Mapping[str, tuple[int, int]],
) -> dict[str, list[MetricSeries]]:
    """Each of `runs`' remote-written metric series, by the windows its logs are read with
    (`run_windows_ns` of every stored run)."""
    if store is None:
        return {}
    return {run.test_id: store.series_between(*windows[run.test_id]) for run in runs}


def failure_times(events: Sequence[Event]) -> list[int]:
    """When the failures and incidents among `events` happened (premortem's own included)."""
    return sorted(e.time_ns for e in events if is_failure_event(e.type))


def series_between_runs(
    store: SeriesStore | None,
    runs: Sequence[TestRun],
    windows: Mapping[str, tuple[int, int]],
    *,
    horizon_ns: int,
    failures_ns: Sequence[int] = (),
    until_ns: int | None = None,
) -> list[MetricSeries]:
    """The samples of normal time between the runs, for the series' normal ranges: from the
    first run's start to the end of the last run's window (before `until_ns`), outside every
    window, and not within a horizon after a run that failed or had a fault injected (its
    recovery) nor within a horizon of a failure reported outside the runs (`failures_ns`).

    With one sample a minute, a run's own normal part holds a point or two; the time between
    runs is what shows a series' everyday range (learn/metric_signals.py)."""
    if store is None or not runs:
        return []
    spans = [windows[r.test_id] for r in runs]
    begin = min(start for start, _ in spans)
    end = max(stop for _, stop in spans)
    if until_ns is not None:
        end = min(end, until_ns)
    if end <= begin:
        return []
    taken = Intervals(
        [
            *spans,
            *(
                (windows[r.test_id][1], windows[r.test_id][1] + horizon_ns)
                for r in runs
                if r.failed or r.injected_faults
            ),
            *((t - horizon_ns, t + horizon_ns) for t in failures_ns),
        ]
    )
    out = []
    for s in store.series_between(begin, end):
        points = [(t, v) for t, v in s.points if not taken.holds(t)]
        if points:
            out.append(MetricSeries(s.metric, s.labels, points))
    return out


class RunLogs(Mapping[str, Sequence[LogRecord]]):
    """Lazy run id → log records of its window (each run is read once by training).

    A run's records are those stamped inside its window, of every service unless the run names
    its `services` (a system is often a database and an app: both speak of the same failure).
    """

    def __init__(self, store: InputStore, runs: Sequence[TestRun]) -> None:
        self._store = store
        self._runs = {run.test_id: run for run in runs}
        self._windows = run_windows_ns(runs)
        # Per source, the newest record read: what training learned up to.
        self.newest_ns: dict[str, int] = {}

    def __getitem__(self, test_id: str) -> Sequence[LogRecord]:
        run = self._runs[test_id]
        since, until = self._windows[test_id]
        records: list[LogRecord] = []
        for service in run.services if run.services is not None else [None]:
            records += self._read(
                LogQuery(service=service, since_ns=since, until_ns=until, newest_first=False)
            )
        for record in records:
            if record.time_ns > self.newest_ns.get(record.service, -1):
                self.newest_ns[record.service] = record.time_ns
        return sorted(records, key=lambda r: r.time_ns) if run.services else records

    def _read(self, query: LogQuery) -> list[LogRecord]:
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


def _nothing_to_learn(stored_runs: int, until_ns: int | None) -> str:
    kept = "the model in use is kept"
    if stored_runs and until_ns is not None:
        return (
            f"nothing to learn from: none of the {stored_runs} stored test runs started before "
            f"{rfc3339_ns(until_ns)}; {kept}"
        )
    return f"nothing to learn from: no test run or simulation is stored; {kept}"


class Trainer:
    def __init__(
        self,
        *,
        inputs: InputStore,
        modes: SqlModeRepository,
        alerts: AlertRepository,
        models: SqlModelRepository,
        horizon_s: float = 300.0,
        series: SeriesStore | None = None,
    ) -> None:
        self.series = series  # the remote-written metric samples runs are trained with
        self._inputs = inputs
        self._modes = modes
        self._alerts = alerts
        self._models = models
        self._horizon_s = horizon_s

    def run(
        self, *, progress: Callable[[str], None] | None = None, until_ns: int | None = None
    ) -> TrainingResult:
        """Train on every test run, event and simulation stored, or on those that started
        before `until_ns` (a later part held out: replay it against the model, then train on
        all). Runs are tied to their logs and samples by the windows of *all* stored runs, so a
        held-out run's lines never fall into the last trained run's window."""
        stored_runs = [
            s.run
            for s in pages(
                lambda o: self._inputs.list_test_runs(TestRunQuery(limit=PAGE, offset=o)).items
            )
        ]
        runs = [
            r for r in stored_runs if until_ns is None or datetime_to_ns(r.timestamp) < until_ns
        ]
        events: list[Event] = list(
            pages(
                lambda o: (
                    self._inputs.list_events(
                        EventQuery(until_ns=until_ns, limit=PAGE, offset=o)
                    ).items
                )
            )
        )
        simulations: list[SimulationRun] = [
            sim
            for sim in pages(
                lambda o: self._inputs.list_simulations(SimulationQuery(limit=PAGE, offset=o)).items
            )
            if until_ns is None or datetime_to_ns(sim.started_at) < until_ns
        ]
        if not runs and not simulations:
            # An empty model would replace the one serving, silently: a trial's first batch of
            # runs was refused (a 400 it did not stop on), and `train` answered 200 with 0 modes.
            raise Conflict(_nothing_to_learn(len(stored_runs), until_ns))
        stored = self._modes.all_modes()
        windows = run_windows_ns(stored_runs)
        logs = RunLogs(self._inputs, stored_runs)
        by_run = series_by_run(self.series, runs, windows)
        normal = series_between_runs(
            self.series,
            runs,
            windows,
            horizon_ns=int(self._horizon_s * SECOND),
            failures_ns=failure_times(events),
            until_ns=until_ns,
        )
        model = train(
            runs,
            logs,
            events,
            simulations,
            manual_modes=stored,
            feedback=feedback_for_training(self._alerts),
            horizon_s=self._horizon_s,
            progress=progress,
            series=by_run,
            normal_series=normal,
        )
        # The network's modes are the ones learned now; the model carries the stored ones too.
        # A training that found no failure at all (no runs, logs that could not be read) retires
        # nothing: it says nothing about the modes learned before; nor does one on part of the
        # history (`until_ns`): the rest may hold them.
        retired = (
            {m.id for m in retired_modes(stored, model.network.modes)}
            if model.stats.get("episodes") and until_ns is None
            else set()
        )
        model.modes = [m for m in model.modes if m.id not in retired]
        if until_ns is not None:
            # The held-out part is this model's live stream: where it loads, stream time goes
            # back here (`PredictionStage.reload`), so lines already received can be sent again.
            model.stats["trained_until_ns"] = until_ns
        elif learned := _newest_ns(logs.newest_ns, [*normal, *chain(*by_run.values())]):
            # What it learned from is no live stream either: those lines sent again (a shipper
            # restarted without its position) were predicted on by the new model, which knew
            # nothing of their time, and alerted and "saw" the trained failures again. Per
            # source: a source whose clock runs behind must not lose its next lines.
            model.stats["learned_until_ns"] = {s: t + 1 for s, t in sorted(learned.items())}
        kept = [m for m in stored if m.id not in retired]
        created, updated = self._save_modes(kept, merge_modes(kept, model.modes))
        summary = {
            **model.stats,
            "live_from_ns": _live_from_ns(runs, until_ns),
            "modes": len(model.modes),
            "threshold": model.lowest_threshold,
            "thresholds_by_mode": dict(sorted(model.mode_thresholds.items())),
        }
        version = self._models.save(model.dumps(), kind=MODEL_KIND, summary=summary)
        for mode_id in sorted(retired):
            with contextlib.suppress(NotFound):  # deleted by hand meanwhile
                self._modes.delete_mode(mode_id)
        return TrainingResult(version, len(model.modes), created, updated, summary, len(retired))

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


def _newest_ns(records_ns: Mapping[str, int], series: Sequence[MetricSeries]) -> dict[str, int]:
    """Per source, the newest time training read: of its log records and metric samples."""
    newest = dict(records_ns)
    for s in series:
        if s.points:
            newest[s.service] = max(newest.get(s.service, -1), *(t for t, _ in s.points))
    return newest


def _live_from_ns(runs: Sequence[TestRun], until_ns: int | None) -> int | None:
    """Where this model's live stream begins: runs that start here or later were not trained
    on, so what it says about them is a forecast (`until_ns`, else a microsecond after the last
    trained run's start, the precision of an RFC 3339 time in answers; None when it learned from
    no run). The live backtest scores from the first model's (`evaluation.history`)."""
    if until_ns is not None:
        return until_ns
    starts = [datetime_to_ns(r.timestamp) for r in runs]
    return max(starts) + 1_000 if starts else None
