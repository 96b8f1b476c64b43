from __future__ import annotations

from pathlib import Path

import pytest

from premortem.clock import ManualClock
from premortem.domain import (
    FailureMode,
    LogRecord,
    Mitigation,
    Source,
    TestRun,
    Trigger,
    TriggerKind,
    datetime_to_ns,
)
from premortem.learn import OnlinePredictor, TrainedModel, merge_modes, train
from premortem.learn.openstack_backtest import LazyLogs
from premortem.learn.openstack_fi import Experiment, discover

FIXTURE = Path(__file__).parents[2] / "fixtures" / "openstack_fi"


@pytest.fixture(scope="module")
def experiments() -> list[Experiment]:
    return discover(FIXTURE)


@pytest.fixture(scope="module")
def model(experiments: list[Experiment]) -> TrainedModel:
    training = experiments[:4]
    return train([r for e in training for r in e.runs], LazyLogs(training))


def _replay(model: TrainedModel, run: TestRun, records: list[LogRecord]) -> list[int]:
    clock = ManualClock()
    predictor = OnlinePredictor(model, clock)
    alerts = []
    for record in records:
        clock.set(record.time_ns)
        for prediction in predictor.observe([record]):
            if prediction.probability >= model.alert_threshold:
                alerts.append(prediction.time_ns)
    return alerts


def test_learns_one_mode_with_triggers_and_mitigations(model: TrainedModel) -> None:
    (mode,) = model.modes
    assert mode.name == "nova: volume attached check failed"
    assert mode.id.startswith("fm-") and mode.source == Source.LEARNED
    kinds = {t.kind for t in mode.triggers}
    assert {TriggerKind.LOG_PATTERN, TriggerKind.FAULT_CONDITION} <= kinds
    log_trigger = next(t for t in mode.triggers if "template_id" in t.condition)
    assert "Failed to attach volume" in log_trigger.description
    assert log_trigger.support == 1.0 and log_trigger.precision == 1.0
    assert min(log_trigger.lead_times_s) >= 55
    assert any("volume" in m.action.lower() for m in mode.mitigations)
    assert mode.evidence.test_runs == ["Nova/Test_1/round_1", "Nova/Test_3/round_1"]


def test_warns_before_failure_and_not_on_fault_free_runs(
    model: TrainedModel, experiments: list[Experiment]
) -> None:
    failing = experiments[4]
    run = failing.runs[0]
    onset = datetime_to_ns(run.onset)
    alerts = _replay(model, run, [r for r in failing.logs(run) if r.time_ns < onset])
    assert alerts and (onset - alerts[0]) / 1e9 >= 50
    fault_free = failing.runs[1]
    assert _replay(model, fault_free, failing.logs(fault_free)) == []
    harmless = experiments[5].runs[0]
    assert _replay(model, harmless, experiments[5].logs(harmless)) == []


def test_prediction_carries_evidence(model: TrainedModel, experiments: list[Experiment]) -> None:
    run = experiments[4].runs[0]
    predictor = OnlinePredictor(model, ManualClock(), horizon_s=120)
    predictions = predictor.observe(experiments[4].logs(run))
    first = predictions[0]
    assert first.mode_id == model.modes[0].id and first.horizon_s == 120
    assert first.evidence["template_ids"] and first.evidence["record_ids"]
    assert "Failed to attach volume" in first.evidence["samples"][0]["line"]


def test_model_round_trips_through_bytes(model: TrainedModel) -> None:
    again = TrainedModel.loads(model.dumps())
    assert again.modes == model.modes
    assert again.alert_threshold == model.alert_threshold
    assert again.network.posterior(frozenset(model.indicators.names)) == pytest.approx(
        model.network.posterior(frozenset(model.indicators.names))
    )


def test_false_alarms_lower_precision_but_prevented_alerts_do_not(
    experiments: list[Experiment], model: TrainedModel
) -> None:
    training = experiments[:4]
    runs = [r for e in training for r in e.runs]
    mode_id = model.modes[0].id
    prevented = train(runs, LazyLogs(training), feedback=[(mode_id, 0, "prevented")] * 3)
    noisy = train(runs, LazyLogs(training), feedback=[(mode_id, 0, "false_alarm")] * 2)
    best = max(t.precision for t in model.modes[0].triggers)
    assert max(t.precision for t in prevented.modes[0].triggers) == best
    assert max(t.precision for t in noisy.modes[0].triggers) == pytest.approx(best / 2)
    assert noisy.mode_factor[mode_id] == 0.5


def test_merge_keeps_manual_entries_and_does_not_duplicate(model: TrainedModel) -> None:
    learned = model.modes[0]
    manual_trigger = Trigger(
        kind=TriggerKind.LOG_PATTERN,
        description="hand-written",
        id="tr-manual",
        source=Source.MANUAL,
    )
    edited = learned.model_copy(
        update={
            "triggers": [*learned.triggers, manual_trigger],
            "mitigations": [Mitigation(id="mi-manual", action="Call Bob", source=Source.MANUAL)],
        }
    )
    hand_made = FailureMode(id="fm-manual", name="disk full", source=Source.MANUAL)
    merged = merge_modes([edited, hand_made], model.modes)
    assert [m.id for m in merged] == [learned.id, "fm-manual"]
    again = merged[0]
    assert "tr-manual" in {t.id for t in again.triggers}
    assert "mi-manual" in {m.id for m in again.mitigations}
    assert len(again.triggers) == len(learned.triggers) + 1
    assert merge_modes(merged, model.modes)[0].triggers == again.triggers


def test_simulated_conditions_become_network_variables(experiments: list[Experiment]) -> None:
    from datetime import timedelta

    from premortem.domain import SimEvent, SimulationRun

    training = experiments[:4]
    runs, simulations = [], []
    for experiment in training:
        for run in experiment.runs:
            sim_id = f"sim-{run.test_id}"
            runs.append(
                run.model_copy(update={"parameters": {**run.parameters, "simulation_id": sim_id}})
            )
            events = [SimEvent(time=5.0, type="pool_exhausted")] if run.failed else []
            simulations.append(
                SimulationRun(
                    simulation_id=sim_id,
                    model="connection_pool",
                    started_at=run.timestamp - timedelta(minutes=5),
                    events=events,
                )
            )
    model = train(runs, LazyLogs(training), simulations=simulations)
    network = model.network
    assert "sim:pool_exhausted" in network.indicators
    (mode,) = model.modes
    unknown = network.posterior(frozenset())[mode.id]
    exhausted = network.posterior(frozenset({"sim:pool_exhausted"}))[mode.id]
    assert exhausted > unknown  # the predictor leaves the condition unobserved
    again = TrainedModel.loads(model.dumps()).network
    assert again.posterior(frozenset({"sim:pool_exhausted"}))[mode.id] == pytest.approx(exhausted)
    assert again.any_failure(frozenset()) == pytest.approx(network.any_failure(frozenset()))
    assert network.any_failure(frozenset()) >= unknown


def test_retraining_never_multiplies_manual_items_without_ids() -> None:
    """A manual mode created through the API may carry triggers and mitigations without ids: the
    trained model carries them back, and each retraining used to double them (schemathesis grew
    one mode to 524k triggers and a 180 MB row, and training to minutes)."""
    nameless = Trigger(kind=TriggerKind.LOG_PATTERN, description="x", id="", source=Source.MANUAL)
    mitigation = Mitigation(id="", action="Call Bob", source=Source.MANUAL)
    stored = [
        FailureMode(
            id="fm-manual",
            name="disk full",
            source=Source.MANUAL,
            triggers=[nameless, nameless],
            mitigations=[mitigation],
        )
    ]
    for _ in range(3):
        learned = merge_modes([], stored)  # what a trained model carries for a manual mode
        stored = merge_modes(stored, learned)
    assert len(stored[0].triggers) == 2 and len(stored[0].mitigations) == 1
