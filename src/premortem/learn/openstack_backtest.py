"""The OpenStack fault-injection backtest: train on earlier experiments, replay the later ones.

Without a separate training directory, each subsystem's experiments are ordered by the start of
their faulty round and the earlier half trains, the later half is evaluated. Both rounds of an
experiment stay on the same side. Logs are read from disk when a run is needed and dropped after,
so memory holds one run at a time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from premortem.domain import LogRecord, TestRun, outcome_text
from premortem.evaluation.scoring import RunOutcome, score
from premortem.learn.backtest import ReplayRun, replay
from premortem.learn.model import TrainedModel, train
from premortem.learn.openstack_fi import Experiment, discover, failure_kind

Progress = Callable[[str, int], None]


class LazyLogs(Mapping[str, Sequence[LogRecord]]):
    """Run id → its service logs, read from disk on access (never cached)."""

    def __init__(self, experiments: Sequence[Experiment]) -> None:
        self._runs: dict[str, tuple[Experiment, TestRun]] = {
            run.test_id: (e, run) for e in experiments for run in e.runs
        }

    def __getitem__(self, run_id: str) -> Sequence[LogRecord]:
        experiment, run = self._runs[run_id]
        return experiment.logs(run)

    def __iter__(self) -> Iterator[str]:
        return iter(self._runs)

    def __len__(self) -> int:
        return len(self._runs)


def split(experiments: Sequence[Experiment]) -> tuple[list[Experiment], list[Experiment]]:
    """Per subsystem, the earlier half (by start time) trains and the later half is evaluated."""
    by_subsystem: dict[str, list[Experiment]] = defaultdict(list)
    for experiment in experiments:
        by_subsystem[experiment.subsystem].append(experiment)
    earlier, later = [], []
    for group in by_subsystem.values():
        group.sort(key=lambda e: (e.order_key, e.name))
        half = len(group) // 2
        earlier += group[:half]
        later += group[half:]
    return earlier, later


def validation_folds(
    training: Sequence[Experiment], *, folds: int = 2
) -> list[tuple[list[Experiment], list[Experiment]]]:
    """Rolling-origin folds inside the training experiments only (never the evaluated half).

    Per subsystem, in time order: the first half always fits; the rest is cut into `folds`
    consecutive blocks, and fold k fits on everything before block k and validates on block k.
    """
    by_subsystem: dict[str, list[Experiment]] = defaultdict(list)
    for experiment in training:
        by_subsystem[experiment.subsystem].append(experiment)
    out: list[tuple[list[Experiment], list[Experiment]]] = [([], []) for _ in range(folds)]
    for group in by_subsystem.values():
        group.sort(key=lambda e: (e.order_key, e.name))
        origin = len(group) // 2
        rest = len(group) - origin
        cuts = [origin + (rest * k) // folds for k in range(folds + 1)]
        for k in range(folds):
            out[k][0].extend(group[: cuts[k]])
            out[k][1].extend(group[cuts[k] : cuts[k + 1]])
    return [(fit, held) for fit, held in out if fit and held]


def system_folds(
    training: Sequence[Experiment],
) -> list[tuple[list[Experiment], list[Experiment]]]:
    """Leave one system out, inside the training experiments only: each subsystem's
    experiments are replayed by a model fitted on the other subsystems' (faults it never saw)."""
    systems = sorted({e.subsystem for e in training})
    return [
        (
            [e for e in training if e.subsystem != held],
            sorted((e for e in training if e.subsystem == held), key=lambda e: e.order_key),
        )
        for held in systems
        if len(systems) > 1
    ]


def run_kind(run: TestRun) -> str | None:
    return failure_kind(outcome_text(run.failure_details)) if run.failed else None


def backtest_openstack(
    path: Path,
    *,
    train_path: Path | None = None,
    progress: Progress | None = None,
    on_trained: Callable[[TrainedModel], None] | None = None,
) -> dict[str, Any]:
    """Train, replay and score; returns the report (model metrics, `baseline`, details)."""
    evaluated = discover(path)
    if train_path is not None:
        training = discover(train_path)
    else:
        training, evaluated = split(evaluated)
    outcomes, details = _train_and_replay(training, evaluated, progress, on_trained)
    report = score(outcomes, "model")
    report["baseline"] = score(outcomes, "baseline")
    report["details"] = details
    return report


def validate_openstack(
    path: Path,
    *,
    folds: int = 2,
    protocol: str = "rolling",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The backtest's metrics by validation inside the earlier (training) half only: rolling
    origin (`folds` blocks per subsystem) or leave-one-system-out (`protocol="systems"`).

    The later half is never read: pick designs by this, then run the real backtest once.
    """
    training, _ = split(discover(path))
    outcomes: list[RunOutcome] = []
    per_fold = []
    chosen = (
        system_folds(training) if protocol == "systems" else validation_folds(training, folds=folds)
    )
    for fit, held in chosen:
        fold_outcomes, details = _train_and_replay(fit, held, progress, None)
        outcomes += fold_outcomes
        details["model"] = score(fold_outcomes, "model")
        per_fold.append(details)
    report = score(outcomes, "model")
    report["baseline"] = score(outcomes, "baseline")
    report["details"] = {
        "protocol": (
            "leave one system out inside the training half"
            if protocol == "systems"
            else f"rolling origin inside the training half, {folds} folds"
        ),
        "folds": per_fold,
    }
    return report


def _train_and_replay(
    training: Sequence[Experiment],
    evaluated: Sequence[Experiment],
    progress: Progress | None,
    on_trained: Callable[[TrainedModel], None] | None,
) -> tuple[list[RunOutcome], dict[str, Any]]:
    train_runs = [run for e in training for run in e.runs]
    model = train(
        train_runs,
        LazyLogs(training),
        progress=(lambda run_id: progress(f"train {run_id}", 0)) if progress else None,
    )
    if on_trained is not None:
        on_trained(model)
    kinds = {m.id: failure_kind(str(m.manifestation.get("example", ""))) for m in model.modes}
    common = Counter(k for r in train_runs if (k := run_kind(r)) is not None).most_common(1)
    replays = sorted(
        (ReplayRun(run, _reader(e, run), run_kind(run)) for e in evaluated for run in e.runs),
        key=lambda item: item.run.timestamp,
    )
    outcomes = replay(
        model,
        replays,
        kind_of_mode=lambda m: kinds.get(m, m),
        baseline_kind=common[0][0] if common else "",
        progress=(lambda run_id, n: progress(f"replay {run_id}", n)) if progress else None,
    )
    details = {
        "train_experiments": len(training),
        "test_experiments": len(evaluated),
        "modes": len(model.modes),
        # as `GET /api/v1/models/latest` says it: the lowest in force; a mode without a
        # threshold of its own alerts at `alert_threshold_other_modes`
        "alert_threshold": model.lowest_threshold,
        "alert_thresholds_by_mode": dict(sorted(model.mode_thresholds.items())),
        "alert_threshold_other_modes": model.alert_threshold,
        "indicators": len(model.indicators.names),
        "network_edges": len(model.network.edges_),
        "lines_replayed": sum(o.lines for o in outcomes),
        "runs": [_run_line(o) for o in outcomes],
    }
    return outcomes, details


def _reader(experiment: Experiment, run: TestRun) -> Callable[[], list[LogRecord]]:
    return lambda: experiment.logs(run)


def _run_line(outcome: Any) -> dict[str, Any]:
    def first(alerts: Any) -> list[Any] | None:
        return [alerts.times[0][0], alerts.times[0][1]] if alerts.times else None

    return {
        "run": outcome.run_id,
        "failed": outcome.failed,
        "faulty": outcome.faulty,
        "kind": outcome.kind,
        "onset_ns": outcome.onset_ns,
        "fault_ns": outcome.fault_ns,
        "first_alert": first(outcome.model),
        "last_alert_kind": outcome.model.times[-1][1] if outcome.model.times else None,
        "baseline_first_alert": first(outcome.baseline),
    }
