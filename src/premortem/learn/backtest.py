"""Backtest: replay held-out runs in time order through the online predictor and score it.

The predictor sees only log records (no fault activation, no outcome); the scorer knows both.
Per run, an *alert* is a prediction at or above the model's alert threshold. Metrics (run level):

- ``warned_10s_share``: delayed failures (onset ≥ 30 s after the fault started) alerted ≥ 10 s
  ahead;
- ``precision``: alerts that were right / all alerts, where a right alert is a failed run alerted
  between fault start and onset, and a wrong one is any alert in a passing run or before the fault
  started in a failed run;
- ``fault_free_alerted_share`` / ``harmless_alerted_share``: passing runs without / with an
  injected fault that got an alert;
- ``median_lead_s``: onset minus first right alert, over right alerts;
- ``mode_accuracy``: among right alerts, the mode alerted last before onset has the run's kind;
- ``false_alarms_per_day``: wrong alerts per day of replayed logs;
- ``brier``, ``ece``, ``reliability``: how well the alerts' probabilities are calibrated
  (`premortem.evaluation.calibration`: each alerting prediction is a forecast that its mode
  manifests within the horizon).

The naive baseline "alert on the first ERROR line" is scored the same way, its mode being the most
common failure kind of the training runs.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from premortem.clock import ManualClock
from premortem.domain import ERROR_SEVERITY, LogRecord, TestRun
from premortem.evaluation import Forecast, calibration_report, false_alarms_per_day
from premortem.learn.episodes import fault_start_ns
from premortem.learn.model import TrainedModel
from premortem.learn.onset import onset_in_records
from premortem.learn.predictor import OnlinePredictor

DELAYED_S = 30.0
# Service logs stamp milliseconds (truncated): a line stamped in the millisecond the fault started
# may have been written after it.
TIMESTAMP_RESOLUTION_NS = 1_000_000
WARN_AHEAD_S = 10.0
BATCH = 512


@dataclass(slots=True)
class ReplayRun:
    run: TestRun
    records: Callable[[], list[LogRecord]]
    kind: str | None = None  # the failure kind of a failed run, for mode accuracy


@dataclass(slots=True)
class Alerts:
    """The alerts one detector raised in one run: (time, mode kind) in time order, and every
    alerting prediction's (time, mode kind, probability) — the baseline's probability is 1."""

    times: list[tuple[int, str]] = field(default_factory=list)
    forecasts: list[tuple[int, str, float]] = field(default_factory=list)


@dataclass(slots=True)
class RunOutcome:
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
    horizon_ns: int = 300 * 1_000_000_000  # a forecast says "within this long"


def replay(
    model: TrainedModel,
    runs: Iterable[ReplayRun],
    *,
    kind_of_mode: Callable[[str], str],
    baseline_kind: str,
    progress: Callable[[str, int], None] | None = None,
) -> list[RunOutcome]:
    """Replay each run (in the order given) with a manual clock; one predictor for all runs."""
    clock = ManualClock()
    predictor = OnlinePredictor(model, clock)
    outcomes = []
    for item in runs:
        predictor.reset()
        records = sorted(item.records(), key=lambda r: r.time_ns)
        onset = onset_in_records(
            item.run, records, miner=model.miner, healthy=model.indicators.healthy
        )
        if onset is not None:
            records = [r for r in records if r.time_ns < onset]
        outcome = RunOutcome(
            item.run.test_id,
            item.run.failed,
            bool(item.run.injected_faults),
            item.kind,
            onset,
            fault_start_ns(item.run),
            Alerts(),
            Alerts(),
            len(records),
            records[-1].time_ns - records[0].time_ns if records else 0,
            int(predictor.horizon_s * 1e9),
        )
        _replay_one(predictor, clock, records, outcome, kind_of_mode, model.alert_threshold)
        first_error = next((r for r in records if r.severity_number >= ERROR_SEVERITY), None)
        if first_error is not None:
            outcome.baseline.times.append((first_error.time_ns, baseline_kind))
            outcome.baseline.forecasts.append((first_error.time_ns, baseline_kind, 1.0))
        outcomes.append(outcome)
        if progress is not None:
            progress(item.run.test_id, len(records))
    return outcomes


def _replay_one(
    predictor: OnlinePredictor,
    clock: ManualClock,
    records: Sequence[LogRecord],
    outcome: RunOutcome,
    kind_of_mode: Callable[[str], str],
    threshold: float,
) -> None:
    for start in range(0, len(records), BATCH):
        batch = records[start : start + BATCH]
        clock.set(batch[-1].time_ns)
        best: dict[int, tuple[float, str]] = {}
        for prediction in predictor.observe(batch):
            if prediction.probability >= threshold:
                candidate = (prediction.probability, prediction.mode_id)  # ties: by mode id
                best[prediction.time_ns] = max(best.get(prediction.time_ns, candidate), candidate)
        for when in sorted(best):
            outcome.model.times.append((when, kind_of_mode(best[when][1])))
            outcome.model.forecasts.append((when, kind_of_mode(best[when][1]), best[when][0]))


def score(outcomes: Sequence[RunOutcome], which: str) -> dict[str, Any]:
    """The metrics of one detector ("model" or "baseline") over replayed runs."""
    right = wrong = warned_10 = delayed = 0
    fault_free = fault_free_alerted = harmless = harmless_alerted = 0
    leads: list[float] = []
    modes_right = 0
    forecasts: list[Forecast] = []
    for outcome in outcomes:
        alerts: Alerts = getattr(outcome, which)
        forecasts += [
            Forecast(p, _came_true(outcome, when, kind)) for when, kind, p in alerts.forecasts
        ]
        if not outcome.failed:
            alerted = bool(alerts.times)
            wrong += alerted
            if outcome.faulty:
                harmless, harmless_alerted = harmless + 1, harmless_alerted + alerted
            else:
                fault_free, fault_free_alerted = fault_free + 1, fault_free_alerted + alerted
            continue
        assert outcome.onset_ns is not None
        since = outcome.fault_ns - TIMESTAMP_RESOLUTION_NS if outcome.fault_ns is not None else 0
        early = [a for a in alerts.times if a[0] < since]
        timely = [a for a in alerts.times if since <= a[0] < outcome.onset_ns]
        wrong += bool(early)
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
    return {
        "warned_10s_share": _share(warned_10, delayed),
        "precision": _share(right, right + wrong),
        "fault_free_alerted_share": _share(fault_free_alerted, fault_free),
        "harmless_alerted_share": _share(harmless_alerted, harmless),
        "median_lead_s": round(statistics.median(leads), 3) if leads else None,
        "mode_accuracy": _share(modes_right, right),
        "false_alarms_per_day": false_alarms_per_day(wrong, sum(o.watched_ns for o in outcomes)),
        **calibration_report(forecasts),
        "n_test_runs": len(outcomes),
        "counts": {
            "delayed_failures": delayed,
            "warned_10s": warned_10,
            "right_alerts": right,
            "wrong_alerts": wrong,
            "fault_free_runs": fault_free,
            "fault_free_alerted": fault_free_alerted,
            "harmless_runs": harmless,
            "harmless_alerted": harmless_alerted,
            "failed_runs": sum(1 for o in outcomes if o.failed),
            "mode_right": modes_right,
        },
    }


def _came_true(outcome: RunOutcome, when: int, kind: str) -> bool:
    """A forecast at `when` of a mode of `kind` came true: the run failed so within the horizon."""
    if not outcome.failed or outcome.onset_ns is None or kind != outcome.kind:
        return False
    return when < outcome.onset_ns <= when + outcome.horizon_ns


def _share(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None
