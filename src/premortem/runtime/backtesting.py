"""Backtest over stored history: train on what came before a time range, replay the range.

What `premortem backtest history` runs. The test runs in `[since, until)` are replayed in time order
with a manual clock through a predictor trained only on the runs (and events, simulations) stored
before `since`; the predictor sees only their logs and remote-written metric samples, each run's
by the windows training ties them with. Each run is scored by the one scorer
(`premortem.evaluation.scoring`), next to the naive "first ERROR line" rule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

from premortem.domain import LogRecord, MetricSeries, TestRun, datetime_to_ns, rfc3339_ns
from premortem.errors import ConfigError
from premortem.evaluation.scoring import score
from premortem.learn.backtest import ReplayRun, replay
from premortem.learn.episodes import episode_from_run
from premortem.learn.model import train
from premortem.ports import EventQuery, InputStore, SeriesStore, SimulationQuery, TestRunQuery
from premortem.runtime.training import PAGE, RunLogs, pages, run_windows_ns, series_by_run


def _report_of(run: TestRun) -> str | None:
    """How the run's failure was reported (its mode key's id), or None when it passed."""
    episode = episode_from_run(run)
    return episode.key.mode_id if episode else None


def _records(logs: RunLogs, test_id: str) -> list[LogRecord]:
    return list(logs[test_id])


def backtest_history(
    inputs: InputStore,
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
    horizon_s: float = 300.0,
    progress: Callable[[str, int], None] | None = None,
    series: SeriesStore | None = None,
) -> dict[str, Any]:
    runs = sorted(
        (
            s.run
            for s in pages(
                lambda o: inputs.list_test_runs(TestRunQuery(limit=PAGE, offset=o)).items
            )
        ),
        key=lambda r: r.timestamp,
    )
    if len(runs) < 2:
        raise ConfigError("a backtest needs at least two stored test runs")
    times = [datetime_to_ns(r.timestamp) for r in runs]
    windows = run_windows_ns(runs)
    since = since_ns if since_ns is not None else times[len(times) // 2]
    # By default the range ends where the last run's logs do (its window), not at its start:
    # what was said live during that run is in the range too.
    last_end = max(end for _, end in windows.values())
    until = until_ns if until_ns is not None else max(times[-1] + 1, last_end)
    history = [r for r, t in zip(runs, times, strict=True) if t < since]
    replayed = [r for r, t in zip(runs, times, strict=True) if since <= t < until]
    if not history:
        raise ConfigError(f"no test runs stored before {rfc3339_ns(since)} to train on")
    events = [
        e
        for e in pages(
            lambda o: inputs.list_events(EventQuery(until_ns=since, limit=PAGE, offset=o)).items
        )
    ]
    # Nothing from the replayed range or after it is trained on: events and simulations too.
    simulations = [
        s
        for s in pages(
            lambda o: inputs.list_simulations(SimulationQuery(limit=PAGE, offset=o)).items
        )
        if datetime_to_ns(s.started_at) < since
    ]
    logs = RunLogs(inputs, runs)

    def series_of(run: TestRun) -> list[MetricSeries]:
        return series_by_run(series, [run], windows).get(run.test_id, [])

    model = train(
        history,
        logs,
        events,
        simulations,
        horizon_s=horizon_s,
        series=series_by_run(series, history, windows),
    )
    # A mode may hold failures reported in several ways (learn.episodes.assign_modes).
    mode_of_report = {
        key: mode.id for mode in model.modes for key in mode.manifestation.get("reported_as", [])
    }

    def mode_of(run: TestRun) -> str | None:
        report = _report_of(run)
        return mode_of_report.get(report, report) if report else None

    trained_modes = Counter(m for m in map(mode_of, history) if m)
    outcomes = replay(
        model,
        [
            ReplayRun(
                run, partial(_records, logs, run.test_id), mode_of(run), partial(series_of, run)
            )
            for run in replayed
        ],
        kind_of_mode=lambda mode_id: mode_id,
        baseline_kind=trained_modes.most_common(1)[0][0] if trained_modes else "",
        progress=progress,
    )
    report: dict[str, Any] = {
        "since": rfc3339_ns(since),
        "until": rfc3339_ns(until),
        "trained_on_runs": len(history),
        "modes": len(model.modes),
    }
    for name in ("model", "baseline"):
        report[name] = score(outcomes, name)
    report["lead_times_s"] = report["model"]["lead_times_s"]
    return report
