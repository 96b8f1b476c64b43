"""Backtest over stored history: train on what came before a time range, replay the range.

What `premortem backtest history` runs. A predictor trained only on the runs (and events,
simulations) stored before `since` is run over every log record and remote-written metric sample
stored in `[since, until)`, in time order, as one live stream with a manual clock — no reset
between runs, so what a run leaves behind can alert in the next, as it does live. What it would
have stored (its alerts, the failures it saw) is scored exactly as the Backtest page scores what
premortem stored live (`premortem.evaluation.history.score_range`): the stored test runs in the
range as windows, next to the naive "first ERROR line" rule. So with the same model, the
replayed and the live scores of a range are the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from premortem.domain import MAX_NS, TestRun, datetime_to_ns, rfc3339_ns
from premortem.errors import ConfigError
from premortem.evaluation.history import LogFacts, failures_of, score_range
from premortem.failures import OBSERVED_FAILURE, failure_event
from premortem.learn.backtest import forecast_stream
from premortem.learn.model import train
from premortem.learn.run_end import RunEnd
from premortem.learn.suite_backtest import mode_kinds
from premortem.ports import (
    EventQuery,
    InputStore,
    LogQuery,
    SeriesStore,
    SimulationQuery,
    TestRunQuery,
)
from premortem.runtime.training import (
    PAGE,
    RunLogs,
    failure_times,
    pages,
    run_windows_ns,
    series_between_runs,
    series_by_run,
)


def backtest_history(
    inputs: InputStore,
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
    horizon_s: float = 300.0,
    progress: Callable[[str, int], None] | None = None,
    series: SeriesStore | None = None,
    facts: LogFacts,
    live_from_ns: int | None = None,
) -> dict[str, Any]:
    """Train on the runs before `since_ns`, replay the range as one live stream, score it.

    Without `since_ns`: where the model in use went live (`live_from_ns`, its summary's) — the
    end of the last run it trained on, so the replay trains on the same runs and scores the
    same model the live section does — else the median run."""
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
    since = since_ns if since_ns is not None else _default_since(runs, windows, live_from_ns)
    # By default the range ends with the newest stored record, and never before the last run's
    # window does: what was said live during that run, and after it, is in the range too.
    last_end = max(end for _, end in windows.values())
    newest = facts.log_span(since, MAX_NS, None)[1]
    until = (
        until_ns
        if until_ns is not None
        else max(times[-1] + 1, last_end, newest + 1 if newest is not None else 0)
    )
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

    model = train(
        history,
        logs,
        events,
        simulations,
        horizon_s=horizon_s,
        series=series_by_run(series, history, windows),
        normal_series=series_between_runs(
            series,
            history,
            windows,
            horizon_ns=int(horizon_s * 1e9),
            failures_ns=failure_times(events),
            until_ns=since,
        ),
    )
    # read page by page as the replay goes (in time order, ties by id): a long range is never
    # held in memory
    records = pages(
        lambda o: (
            inputs.list_logs(
                LogQuery(since_ns=since, until_ns=until, newest_first=False, limit=PAGE, offset=o)
            ).items
        )
    )
    said = forecast_stream(
        model,
        records,
        series.series_between(since, until) if series is not None else (),
        run_ends=[RunEnd.of(run, windows) for run in replayed],
        progress=(lambda t, n: progress(rfc3339_ns(t), n)) if progress else None,
    )
    kinds = mode_kinds({m.id: m.evidence.test_runs for m in model.modes}, runs)
    names = {m.id: m.name for m in model.modes}
    in_range = list(
        pages(
            lambda o: (
                inputs.list_events(
                    EventQuery(since_ns=since, until_ns=until, limit=PAGE, offset=o)
                ).items
            )
        )
    )
    # The failures: those reported in the range, and those this replay saw itself — not the
    # ones the live model saw (stored as events too), which may differ from this model's.
    failures = failures_of(
        [
            *(e for e in in_range if e.type != OBSERVED_FAILURE),
            *(failure_event(f, names.get(f.mode_id, "")) for f in said.failures),
        ],
        kinds,
    )
    model_report, baseline_report = score_range(
        replayed,
        failures,
        [(t, kinds.get(mode_id, mode_id), p) for t, mode_id, p in said.alerts],
        facts,
        since_ns=since,
        until_ns=until,
        horizon_ns=int(horizon_s * 1e9),
        service=None,
    )
    report: dict[str, Any] = {
        "since": rfc3339_ns(since),
        "until": rfc3339_ns(until),
        "trained_on_runs": len(history),
        "modes": len(model.modes),
    }
    report["model"], report["baseline"] = model_report, baseline_report
    report["lead_times_s"] = report["model"]["lead_times_s"]
    return report


def _default_since(
    runs: Sequence[TestRun], windows: Mapping[str, tuple[int, int]], live_from_ns: int | None
) -> int:
    """The end of the window of the last run the live model trained on (what followed it is
    the live stream), else the median run's start."""
    trained = [r for r in runs if datetime_to_ns(r.timestamp) < (live_from_ns or 0)]
    if trained and len(trained) < len(runs):
        return max(windows[trained[-1].test_id][1], live_from_ns or 0)
    return datetime_to_ns(runs[len(runs) // 2].timestamp)
