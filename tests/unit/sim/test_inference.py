"""What-If with the Bayesian network: evidence from simulated runs, combination, fallback."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from premortem.conditions import FAULT, NO_FAULT
from premortem.domain import FailureMode, Mitigation
from premortem.learn.network import ModeNetwork
from premortem.sim import FaultSpec, run_model, what_if
from premortem.sim.inference import NetworkEstimator, describe_modes, speaks_for

LEARNED = "db-pool-slow"


def _rows() -> list[dict[str, Any]]:
    """Saturated pools (in simulations and under high load) precede both modes; latency faults
    precede the learned one."""
    rng = random.Random(7)
    rows = []
    for _ in range(600):
        saturated = rng.random() < 0.4
        heavy = rng.random() < 0.5
        fault = rng.choice(["network_latency", NO_FAULT, NO_FAULT])
        noise = int(rng.random() < 0.3)
        p_pool = 0.85 if saturated else 0.05
        p_learned = 0.7 if (fault != NO_FAULT and heavy) else 0.05
        rows.append(
            {
                FAULT: fault,
                "sim:pool_saturated": int(saturated),
                "load:request_rate>=120": int(heavy),
                "novel:api:error": noise,
                "pool_exhaustion": int(rng.random() < p_pool),
                LEARNED: int(rng.random() < p_learned),
            }
        )
    return rows


@pytest.fixture(scope="module")
def network() -> ModeNetwork:
    indicators = ["sim:pool_saturated", "load:request_rate>=120", "novel:api:error"]
    return ModeNetwork(indicators, ["pool_exhaustion", LEARNED]).fit(_rows())


MODES = [
    FailureMode(
        id=LEARNED,
        name="Slow database under latency",
        service="checkout",
        mitigations=[Mitigation(action="Put a circuit breaker in front of the database.")],
    )
]


def test_variables_a_simulation_can_speak_for() -> None:
    assert speaks_for("sim:pool_saturated")
    assert speaks_for("sim:pool_utilisation_p95>=0.9")
    assert speaks_for("load:request_rate>=120")
    assert not speaks_for("sim:pool_utilisation_p95")  # numeric without threshold
    assert not speaks_for("sim:pool_saturated>=1")  # boolean with threshold
    assert not speaks_for("novel:api:error")
    assert not speaks_for("tpl:12")


def test_without_a_network_the_answer_is_the_simulations_and_says_so() -> None:
    estimator = NetworkEstimator(None)
    run = run_model("service", {"pool_size": 4, "request_rate": 150}, seed=1, duration_s=20)
    assert estimator.inference == "simulation-only"
    from premortem.sim import failure_modes_from_run

    assert estimator(run) == failure_modes_from_run(run)


def test_a_network_with_only_log_indicators_is_not_used() -> None:
    rows = [{FAULT: NO_FAULT, "novel:a:error": i % 2, "m": i % 2} for i in range(40)]
    only_logs = ModeNetwork(["novel:a:error"], ["m"]).fit(rows)
    estimator = NetworkEstimator(only_logs, faults=[FaultSpec(type="cpu_hog", start_s=5)])
    assert estimator.inference == "simulation-only"
    assert "no variable" in estimator.note


def test_evidence_from_a_run(network: ModeNetwork) -> None:
    estimator = NetworkEstimator(network, faults=[FaultSpec(type="latency", start_s=5)])
    assert estimator.inference == "bayesian-network"
    assert estimator.variables == ["load:request_rate>=120", "sim:pool_saturated", FAULT]
    light = run_model("service", {"pool_size": 4, "request_rate": 20}, seed=1, duration_s=20)
    heavy = run_model("service", {"pool_size": 4, "request_rate": 200}, seed=1, duration_s=20)
    assert estimator.evidence(light) == {
        "load:request_rate>=120": 0,
        "sim:pool_saturated": 0,
        FAULT: "network_latency",
    }
    assert estimator.evidence(heavy)["sim:pool_saturated"] == 1
    assert estimator.evidence(heavy)["load:request_rate>=120"] == 1


def test_network_and_simulation_combine_over_the_grid(network: ModeNetwork) -> None:
    faults = [FaultSpec(type="latency", start_s=5, value=0.001)]
    estimator = NetworkEstimator(network, MODES, service="checkout", faults=faults)
    answer = what_if(
        {"pool_size": 4},
        "request_rate",
        [20, 60, 200],
        seed=1,
        duration_s=20,
        faults=faults,
        estimate=estimator,
    )
    answer = describe_modes(answer, MODES)
    by_point = [{m.mode: m for m in point.modes} for point in answer.points]
    pool = [p["pool_exhaustion"].probability for p in by_point]
    learned = [p[LEARNED].probability for p in by_point]
    assert pool[0] < 0.3 and pool[2] > 0.8 and pool == sorted(pool)
    # The learned mode needs load >= 120 and the latency fault: only the last point has both.
    assert learned[0] < 0.2 and learned[2] > 0.5
    assert by_point[2][LEARNED].first_time_s == 0.0  # the load is there from the start
    assert by_point[2][LEARNED].name == "Slow database under latency"
    assert "circuit breaker" in by_point[2][LEARNED].mitigation
    appeared = {a.mode: a for a in answer.appearances}
    assert appeared[LEARNED].first_value == 200
    assert {"queue_overflow", "timeout_storm"} <= set(by_point[0])  # the simulation's own modes


def test_modes_of_another_service_are_left_out(network: ModeNetwork) -> None:
    estimator = NetworkEstimator(network, MODES, service="payments")
    run = run_model("service", {"pool_size": 4, "request_rate": 200}, seed=1, duration_s=10)
    assert LEARNED not in {e.mode for e in estimator(run)}


def test_the_posterior_is_a_function_the_caller_can_replace(network: ModeNetwork) -> None:
    asked: list[dict[str, int | str]] = []

    def posterior(evidence: Mapping[str, int | str], modes: Sequence[str]) -> dict[str, float]:
        asked.append(dict(evidence))
        return {mode: 1.0 for mode in modes}

    estimator = NetworkEstimator(network, MODES, service="checkout", posterior=posterior)
    run = run_model("service", {"pool_size": 4, "request_rate": 20}, seed=1, duration_s=10)
    found = {e.mode: e.probability for e in estimator(run)}
    assert asked == [estimator.evidence(run)]
    assert found[LEARNED] == 1.0 and found["pool_exhaustion"] == 1.0  # noisy-OR with 1 is 1
