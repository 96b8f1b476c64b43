"""Backtest on a recorded suite of native test runs, replayed as one live stream.

A suite directory holds what a user sends premortem: `runs.json` (a JSON array of native test-run
documents, run back to back), `logs.jsonl` (native log records, any order; more `*.jsonl[.gz]`
files are read too) and, for scoring only, `truth.json` (`{test_id: {"failure_time": RFC 3339}}`
or a list of objects with `test_id` and `failure_time`: when each failed run really failed —
never shown to training or the predictor).

The runs are ordered by start; the earlier half trains exactly as `premortem train` does (logs tied
to runs by `training.run_windows_ns`, onsets found in the logs when a run has no `failure_time`),
and the later half's logs are replayed **as one stream**, the way the server receives them: no
reset between runs, so evidence left over from one run can alert in the next, as it would live.
Each alert is scored against the run whose window it falls in (learn/backtest.py `score`).
"""

from __future__ import annotations

import gzip
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from premortem.clock import ManualClock
from premortem.domain import (
    ERROR_SEVERITY,
    LogRecord,
    TestRun,
    datetime_to_ns,
    outcome_text,
)
from premortem.errors import IngestError
from premortem.evaluation.scoring import Alerts, RunOutcome, lead_s, score
from premortem.ingest.fields import rfc3339_to_ns
from premortem.ingest.multiline import assemble
from premortem.ingest.native import log_record, validate_test_run
from premortem.learn.episodes import details_template, scored_fault_ns
from premortem.learn.model import TrainedModel, train
from premortem.learn.predictor import OnlinePredictor
from premortem.learn.run_end import RunEnd
from premortem.runtime.training import logs_by_run, run_windows_ns

BATCH = 256


@dataclass(slots=True)
class Suite:
    runs: list[TestRun]
    logs: list[LogRecord]  # time order
    truth: dict[str, int]  # test id -> true failure time (ns)


def read_suite(path: Path) -> Suite:
    runs_file = path / "runs.json"
    if not runs_file.is_file():
        raise IngestError(f"{path} has no runs.json (a JSON array of native test runs)")
    docs = orjson.loads(runs_file.read_bytes())
    runs = [validate_test_run(doc, at=f"/{i}").run for i, doc in enumerate(docs)]
    logs: list[LogRecord] = []
    for file in sorted(path.glob("*.jsonl*")):
        data = gzip.decompress(file.read_bytes()) if file.suffix == ".gz" else file.read_bytes()
        # As the server reads them: continuation lines (a PostgreSQL DETAIL, a stack trace)
        # folded into their message, levels read from lines that have none.
        logs += assemble(
            [log_record(orjson.loads(line), 0) for line in data.splitlines() if line.strip()]
        )
    logs.sort(key=lambda r: r.time_ns)
    truth: dict[str, int] = {}
    truth_file = path / "truth.json"
    if truth_file.is_file():
        loaded = orjson.loads(truth_file.read_bytes())
        items = loaded.items() if isinstance(loaded, dict) else ((i["test_id"], i) for i in loaded)
        for test_id, item in items:
            if item.get("failure_time"):
                truth[test_id] = rfc3339_to_ns(item["failure_time"])
    return Suite(sorted(runs, key=lambda r: r.timestamp), logs, truth)


def split_suite(suite: Suite, *, share: float = 0.5) -> tuple[list[TestRun], list[TestRun]]:
    cut = int(len(suite.runs) * share)
    return suite.runs[:cut], suite.runs[cut:]


def backtest_suite(
    suite: Suite,
    *,
    train_runs: Sequence[TestRun] | None = None,
    replay_runs: Sequence[TestRun] | None = None,
    on_trained: Callable[[TrainedModel], None] | None = None,
) -> dict[str, Any]:
    """Train on `train_runs` (default: the earlier half), replay `replay_runs` as one stream."""
    if train_runs is None or replay_runs is None:
        train_runs, replay_runs = split_suite(suite)
    model, outcomes = _train_and_replay(suite, train_runs, replay_runs)
    if on_trained is not None:
        on_trained(model)
    report = score(outcomes, "model")
    report["baseline"] = score(outcomes, "baseline")
    report["details"] = {
        "train_runs": len(train_runs),
        "replayed_runs": len(replay_runs),
        "truth_runs": len(suite.truth),
        **_fold_details(model, outcomes),
    }
    return report


def validation_blocks(
    runs: Sequence[TestRun], *, folds: int = 2
) -> list[tuple[list[TestRun], list[TestRun]]]:
    """Rolling-origin folds inside `runs` (the training half, in time order): the first half
    always fits; the rest is cut into `folds` consecutive blocks, and fold k fits on every run
    before block k and replays block k — as a deployment learns from what came before."""
    origin = len(runs) // 2
    rest = len(runs) - origin
    cuts = [origin + (rest * k) // folds for k in range(folds + 1)]
    blocks = [(list(runs[: cuts[k]]), list(runs[cuts[k] : cuts[k + 1]])) for k in range(folds)]
    return [(fit, held) for fit, held in blocks if fit and held]


def validate_suite(suite: Suite, *, folds: int = 2) -> dict[str, Any]:
    """The backtest's metrics by rolling-origin validation inside the earlier half only
    (`validation_blocks`): the later half is never trained on, replayed or scored. Pick
    designs by this, then run the real backtest once."""
    training, _ = split_suite(suite)
    outcomes: list[RunOutcome] = []
    per_fold = []
    for fit, held in validation_blocks(training, folds=folds):
        model, fold_outcomes = _train_and_replay(suite, fit, held)
        outcomes += fold_outcomes
        per_fold.append(
            {
                "train_runs": len(fit),
                "replayed_runs": len(held),
                "model": score(fold_outcomes, "model"),
                **_fold_details(model, fold_outcomes),
            }
        )
    report = score(outcomes, "model")
    report["baseline"] = score(outcomes, "baseline")
    report["details"] = {
        "protocol": f"rolling origin inside the training half, {folds} folds",
        "folds": per_fold,
    }
    return report


def _train_and_replay(
    suite: Suite, train_runs: Sequence[TestRun], replay_runs: Sequence[TestRun]
) -> tuple[TrainedModel, list[RunOutcome]]:
    # Runs are tied to their logs by the whole suite's order (`run_windows_ns`): a run's window
    # ends where the next one starts, whether or not that one is trained on.
    windows = run_windows_ns(suite.runs)
    model = train(list(train_runs), logs_by_run(train_runs, suite.logs, windows=windows))
    return model, replay_stream(model, suite, replay_runs, windows)


def _fold_details(model: TrainedModel, outcomes: Sequence[RunOutcome]) -> dict[str, Any]:
    return {
        "modes": [m.name for m in model.modes],
        # as `GET /api/v1/models/latest` says it: the lowest in force; a mode without a
        # threshold of its own alerts at `alert_threshold_other_modes`
        "alert_threshold": model.lowest_threshold,
        "alert_thresholds_by_mode": dict(sorted(model.mode_thresholds.items())),
        "alert_threshold_other_modes": model.alert_threshold,
        "evidence_window_s": model.indicators.window_s,
        "runs": [
            {
                "run": o.run_id,
                "failed": o.failed,
                "faulty": o.faulty,
                "lead_s": _lead(o),
                "alerts": len(o.model.times),
            }
            for o in outcomes
        ],
    }


def _lead(outcome: RunOutcome) -> float | None:
    lead = lead_s(outcome)
    return None if lead is None else round(lead, 3)


def replay_stream(
    model: TrainedModel,
    suite: Suite,
    runs: Sequence[TestRun],
    windows: dict[str, tuple[int, int]],
) -> list[RunOutcome]:
    """The replayed runs' logs as one stream; every alert lands in the run whose window holds it."""
    since = min(windows[r.test_id][0] for r in runs)
    until = max(windows[r.test_id][1] for r in runs)
    records = [r for r in suite.logs if since <= r.time_ns < until]
    clock = ManualClock()
    predictor = OnlinePredictor(model, clock)
    # Each run is reported by its end, as a chaos tool reports it (a server told the runs
    # before their logs does the same: `runtime.run_ends`).
    predictor.end_runs(RunEnd.of(r, windows) for r in runs)
    evidence = {mode.id: mode.evidence.test_runs for mode in model.modes}
    kinds = mode_kinds(evidence, suite.runs)
    firing = AlertIntervals(int(predictor.horizon_s * 1e9))
    for start in range(0, len(records), BATCH):
        batch = records[start : start + BATCH]
        clock.set(batch[-1].time_ns)
        for p in predictor.observe(batch):
            firing.add(
                p.time_ns,
                kinds.get(p.mode_id, p.mode_id),
                closes=p.closing,
                probability=p.probability,
            )
    learned_from = {t for tests in evidence.values() for t in tests}
    common = common_kind(r for r in suite.runs if r.test_id in learned_from)
    return score_intervals(
        suite, runs, windows, firing.all(), baseline_kind=common, horizon_s=predictor.horizon_s
    )


def score_intervals(
    suite: Suite,
    runs: Sequence[TestRun],
    windows: dict[str, tuple[int, int]],
    alerts: Sequence[tuple[int, int, str, float]],
    *,
    baseline_kind: str = "",
    horizon_s: float = 300.0,
) -> list[RunOutcome]:
    """Each replayed run's outcome from alerts given as (started, resolved, mode kind,
    probability), however they were raised (replayed here, or read from a server's
    `GET /api/v1/alerts`); an alert is a forecast made when it started.

    An alert still firing when a run starts counts at the run's start: live, the carried-over
    alert is what the person on call sees during that run."""
    times = [record.time_ns for record in suite.logs]
    outcomes = []
    for run in runs:
        begin, end = windows[run.test_id]
        onset = suite.truth.get(run.test_id) or (
            datetime_to_ns(run.failure_time) if run.failure_time else None
        )
        if run.failed and onset is None:
            onset = end  # unknown: count alerts up to the run's end
        cut = onset if run.failed and onset is not None else end
        carried = sorted({k for s, e, k, _ in alerts if s < begin < e})
        raised = sorted((s, k, p) for s, _, k, p in alerts if begin <= s < cut)
        before_cut = suite.logs[bisect_left(times, begin) : bisect_left(times, cut)]
        outcome = RunOutcome(
            run.test_id,
            run.failed,
            bool(run.injected_faults),
            run_kind(run) if run.failed else None,
            onset if run.failed else None,
            scored_fault_ns(run),
            Alerts([(begin, k) for k in carried] + [(s, k) for s, k, _ in raised], raised),
            Alerts(),
            len(before_cut),
            before_cut[-1].time_ns - before_cut[0].time_ns if before_cut else 0,
            int(horizon_s * 1e9),
        )
        first_error = next((r for r in before_cut if r.severity_number >= ERROR_SEVERITY), None)
        if first_error is not None:
            outcome.baseline.times.append((first_error.time_ns, baseline_kind))
            outcome.baseline.forecasts.append((first_error.time_ns, baseline_kind, 1.0))
        outcomes.append(outcome)
    return outcomes


class AlertIntervals:
    """Alerts as the server keeps them: one per mode kind, opened by a prediction, kept alive by
    the next ones, resolved by a closing prediction or `horizon` after the last one."""

    def __init__(self, horizon_ns: int) -> None:
        self._horizon = horizon_ns
        # kind -> (started, last seen, probability when it started: the forecast it stands for)
        self._open: dict[str, tuple[int, int, float]] = {}
        self.intervals: list[tuple[int, int, str, float]] = []  # (started, resolved, kind, p)

    def add(self, time_ns: int, kind: str, *, closes: bool, probability: float = 1.0) -> None:
        current = self._open.get(kind)
        if current is not None and time_ns - current[1] > self._horizon:
            self._resolve(kind, current[1] + self._horizon)
            current = None
        if closes:
            if current is not None:
                self._resolve(kind, time_ns)
            return
        if current is None:
            self._open[kind] = (time_ns, time_ns, probability)
        else:
            self._open[kind] = (current[0], time_ns, current[2])

    def _resolve(self, kind: str, at_ns: int) -> None:
        started, _, probability = self._open.pop(kind)
        self.intervals.append((started, at_ns, kind, probability))

    def all(self) -> list[tuple[int, int, str, float]]:
        """(started, resolved, kind, probability) of every alert; one still open resolves a
        horizon after its last prediction."""
        pending = [(s, last + self._horizon, k, p) for k, (s, last, p) in self._open.items()]
        return sorted(self.intervals + pending)


def run_kind(run: TestRun) -> str:
    """What a failed run of a chaos suite is about: its injected fault types (else its details)."""
    return ",".join(run.fault_types) or details_template(outcome_text(run.failure_details))


def mode_kinds(evidence: Mapping[str, Sequence[str]], runs: Sequence[TestRun]) -> dict[str, str]:
    """A mode's kind: the most common kind among the failed runs it was learned from
    (`evidence`: mode id -> test ids, from a trained model or `GET /api/v1/failure-modes`)."""
    by_id = {r.test_id: r for r in runs}
    kinds = {}
    for mode_id, tests in evidence.items():
        kind = common_kind(by_id[t] for t in tests if t in by_id)
        if kind:
            kinds[mode_id] = kind
    return kinds


def common_kind(runs: Iterable[TestRun]) -> str:
    """The most common kind of the failed runs among `runs` (ties: the first by name)."""
    counted = Counter(run_kind(run) for run in runs if run.failed)
    return min(counted.items(), key=lambda kc: (-kc[1], kc[0]))[0] if counted else ""
