"""The one scorer: what premortem said against what failed, window by window.

Every backtest — the OpenStack one, `premortem backtest suite`, `premortem backtest history`
(replayed and live) and the Backtest page with `GET /api/v1/backtest` — turns what it knows into
`RunOutcome`s (a window of time: a test run, or a failure seen live; the alerts each detector
raised in it) and scores them here, so a right alert means the same everywhere:

- a **right alert** is one in a failed window between its fault's start (the window's start when
  no fault is known) and the failure's onset; log timestamps are truncated to the millisecond, so
  a line in the fault's millisecond counts as after it;
- a **wrong alert** is any alert in a passing window, or before the fault started in a failed one
  (a window counts once);
- `warned_10s_share`: delayed failures (onset ≥ 30 s after the fault started) with a right alert
  ≥ 10 s ahead; `recall`: failed windows with a right alert;
- `precision` = right / (right + wrong); `fault_free_alerted_share`, `harmless_alerted_share`:
  passing test runs without / with an injected fault that got an alert (live stretches count in
  neither);
- `median_lead_s` and `lead_times_s`: onset minus the first right alert;
- `mode_accuracy`: among right alerts, the last alert before onset names the window's kind;
- `false_alarms_per_day`: wrong alerts per day of watched logs (first to last record of each
  window); `false_alarms_by_day`: wrong alerts by UTC day;
- `brier`, `ece`, `reliability` (`premortem.evaluation.calibration`): every alert is a forecast
  "this kind within the horizon, with probability p"; it came true when its window failed with
  that kind within the horizon after it.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from premortem.evaluation.calibration import Forecast, calibration_report, false_alarms_per_day

DELAYED_S = 30.0
# Service logs stamp milliseconds (truncated): a line stamped in the millisecond the fault started
# may have been written after it.
TIMESTAMP_RESOLUTION_NS = 1_000_000
WARN_AHEAD_S = 10.0
NS = 1_000_000_000


@dataclass(slots=True)
class Alerts:
    """The alerts one detector raised in one window: (time, kind) in time order, and every
    alerting prediction's (time, kind, probability) — the baseline's probability is 1."""

    times: list[tuple[int, str]] = field(default_factory=list)
    forecasts: list[tuple[int, str, float]] = field(default_factory=list)

    def add(self, time_ns: int, kind: str, probability: float) -> None:
        self.times.append((time_ns, kind))
        self.forecasts.append((time_ns, kind, probability))


@dataclass(slots=True)
class RunOutcome:
    """One scored window: a test run (replayed or live), or a failure seen live outside any."""

    run_id: str
    failed: bool
    faulty: bool
    kind: str | None
    onset_ns: int | None
    fault_ns: int | None
    model: Alerts
    baseline: Alerts
    lines: int = 0
    watched_ns: int = 0  # first to last replayed record
    horizon_ns: int = 300 * NS  # a forecast says "within this long"
    live: bool = False  # not a test run: counts in neither the fault-free nor the harmless share


def strongest_per_moment(
    predictions: Iterable[tuple[int, str, float]],
) -> list[tuple[int, str, float]]:
    """Alerts as (time, key, probability), one per moment: the likeliest (ties: by key), in
    time order. Several modes can cross the threshold on the same record; the person on call
    reads the likeliest first, and every entry point counts the moment once."""
    best: dict[int, tuple[float, str]] = {}
    for when, kind, probability in predictions:
        candidate = (probability, kind)
        best[when] = max(best.get(when, candidate), candidate)
    return [(when, best[when][1], best[when][0]) for when in sorted(best)]


def score(outcomes: Sequence[RunOutcome], which: str) -> dict[str, Any]:
    """The metrics of one detector ("model" or "baseline") over scored windows."""
    right = wrong = warned_10 = delayed = 0
    fault_free = fault_free_alerted = harmless = harmless_alerted = 0
    leads: list[float] = []
    wrong_at: list[int] = []
    modes_right = 0
    forecasts: list[Forecast] = []
    for outcome in outcomes:
        alerts: Alerts = getattr(outcome, which)
        forecasts += [
            Forecast(p, came_true(outcome, when, kind)) for when, kind, p in alerts.forecasts
        ]
        if not outcome.failed:
            if alerts.times:
                wrong += 1
                wrong_at.append(alerts.times[0][0])
            if outcome.live:
                continue
            alerted = bool(alerts.times)
            if outcome.faulty:
                harmless, harmless_alerted = harmless + 1, harmless_alerted + alerted
            else:
                fault_free, fault_free_alerted = fault_free + 1, fault_free_alerted + alerted
            continue
        assert outcome.onset_ns is not None
        early, timely = _early_and_timely(outcome, alerts)
        if early:
            wrong += 1
            wrong_at.append(early[0][0])
        is_delayed = (
            outcome.fault_ns is not None
            and (outcome.onset_ns - outcome.fault_ns) / 1e9 >= DELAYED_S
        )
        delayed += is_delayed
        if timely:
            right += 1
            lead = (outcome.onset_ns - timely[0][0]) / 1e9
            leads.append(lead)
            warned_10 += is_delayed and lead >= WARN_AHEAD_S
            modes_right += timely[-1][1] == outcome.kind
    failed = sum(1 for o in outcomes if o.failed)
    return {
        "warned_10s_share": _share(warned_10, delayed),
        "precision": _share(right, right + wrong),
        "recall": _share(right, failed),
        "fault_free_alerted_share": _share(fault_free_alerted, fault_free),
        "harmless_alerted_share": _share(harmless_alerted, harmless),
        "median_lead_s": round(statistics.median(leads), 3) if leads else None,
        "lead_times_s": sorted(round(x, 3) for x in leads),
        "mode_accuracy": _share(modes_right, right),
        "false_alarms_per_day": false_alarms_per_day(wrong, sum(o.watched_ns for o in outcomes)),
        "false_alarms_by_day": _by_day(wrong_at),
        **calibration_report(forecasts),
        "n_test_runs": sum(1 for o in outcomes if not o.live),
        "counts": {
            "delayed_failures": delayed,
            "warned_10s": warned_10,
            "right_alerts": right,
            "wrong_alerts": wrong,
            "fault_free_runs": fault_free,
            "fault_free_alerted": fault_free_alerted,
            "harmless_runs": harmless,
            "harmless_alerted": harmless_alerted,
            "failed_runs": failed,
            "mode_right": modes_right,
        },
    }


def _early_and_timely(
    outcome: RunOutcome, alerts: Alerts
) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """A failed window's alerts before its fault started (wrong), and from the fault to the
    onset (right)."""
    assert outcome.onset_ns is not None
    since = outcome.fault_ns - TIMESTAMP_RESOLUTION_NS if outcome.fault_ns is not None else 0
    early = [a for a in alerts.times if a[0] < since]
    timely = [a for a in alerts.times if since <= a[0] < outcome.onset_ns]
    return early, timely


def lead_s(outcome: RunOutcome, which: str = "model") -> float | None:
    """How long before the onset the window's first right alert came; None without one (an
    alert carried over from an earlier run, or raised before the fault, is not one)."""
    if not outcome.failed or outcome.onset_ns is None:
        return None
    _, timely = _early_and_timely(outcome, getattr(outcome, which))
    return (outcome.onset_ns - timely[0][0]) / 1e9 if timely else None


def came_true(outcome: RunOutcome, when: int, kind: str) -> bool:
    """A forecast at `when` of `kind` came true: the window failed so within the horizon."""
    if not outcome.failed or outcome.onset_ns is None or kind != outcome.kind:
        return False
    return when < outcome.onset_ns <= when + outcome.horizon_ns


def _by_day(times: Iterable[int]) -> dict[str, int]:
    days: dict[str, int] = {}
    for time_ns in sorted(times):
        day = datetime.fromtimestamp(time_ns / NS, tz=UTC).strftime("%Y-%m-%d")
        days[day] = days.get(day, 0) + 1
    return days


def _share(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None
