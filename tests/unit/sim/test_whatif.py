from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest

from premortem.domain import Series, SimulationRun
from premortem.errors import ConfigError
from premortem.sim import (
    CONDITIONS,
    DEFAULT_STARTED_AT,
    MODE_CATALOGUE,
    FaultSpec,
    ModeEstimate,
    WhatIfResult,
    conditions,
    failure_modes_from_run,
    grid_runs,
    run_model,
    what_if,
)

SMALL_POOL = {"pool_size": 4}
LOADS = [20, 60, 90, 110, 150, 250]


@pytest.fixture(scope="module")
def small_pool_answer() -> WhatIfResult:
    return what_if(SMALL_POOL, "request_rate", LOADS, seed=1, duration_s=40)


def probabilities(answer: WhatIfResult, mode: str) -> list[float]:
    return [next(m.probability for m in p.modes if m.mode == mode) for p in answer.points]


def test_pool_exhaustion_probability_rises_with_load_and_names_the_mitigation(
    small_pool_answer: WhatIfResult,
) -> None:
    rising = probabilities(small_pool_answer, "pool_exhaustion")
    assert rising[0] < 0.05 and rising[-1] > 0.9
    assert all(b >= a - 0.02 for a, b in itertools.pairwise(rising)), rising
    appearance = next(a for a in small_pool_answer.appearances if a.mode == "pool_exhaustion")
    # 4 connections held ~0.04 s each serve ~100 req/s: exhaustion appears past that load.
    assert appearance.first_value in (110, 150)
    assert appearance.mitigation == "raise the pool size or shed load"
    assert appearance.name == "Connection pool exhaustion"
    point = small_pool_answer.points[-1]
    assert point.conditions["pool_saturated"] is True and point.conditions["pool_exhausted"] is True
    assert all(m.mitigation for m in point.modes)


def test_a_big_enough_pool_shows_no_exhaustion() -> None:
    answer = what_if({"pool_size": 40, "workers": 48}, "request_rate", [50, 150], duration_s=20)
    assert max(probabilities(answer, "pool_exhaustion")) < 0.05
    assert all(a.first_value is None for a in answer.appearances)


def test_first_appearance_time_is_reported_for_a_mode_that_starts_late() -> None:
    leak = FaultSpec(type="connection_leak", start_s=10, value=0.05)
    run = run_model("service", {}, duration_s=40, faults=[leak])
    found = {e.mode: e for e in failure_modes_from_run(run)}
    assert found["pool_exhaustion"].first_time_s is not None
    assert 10 < found["pool_exhaustion"].first_time_s < 30
    assert found["timeout_storm"].probability > 0.2


def test_conditions_describe_every_key_and_handle_external_runs() -> None:
    run = run_model("service", {"request_rate": 300, "pool_size": 5}, duration_s=20)
    found = conditions(run)
    assert set(found) == set(CONDITIONS)
    assert found["pool_saturated"] and found["queue_overflow"] and found["high_error_rate"]
    external = SimulationRun(
        simulation_id="ext-1",
        model="connection_pool",
        started_at=DEFAULT_STARTED_AT,
        series=[Series(name="pool_utilisation", timestamps=[0, 1, 2], values=[0.5, 0.95, None])],
    )
    external_found = conditions(external)
    assert external_found["pool_utilisation_p95"] == pytest.approx(0.9275)
    assert external_found["pool_saturated"] is True and external_found["error_rate"] == 0.0
    assert {e.mode for e in failure_modes_from_run(external)} == set(MODE_CATALOGUE)


def test_grid_runs_share_the_seed_and_accept_an_executor() -> None:
    serial = grid_runs({}, "workers", [4, 8], duration_s=5, seed=3)
    with ThreadPoolExecutor(max_workers=2) as pool:
        parallel = grid_runs({}, "workers", [4, 8], duration_s=5, seed=3, executor=pool)
    assert [r.model_dump() for r in serial] == [r.model_dump() for r in parallel]
    assert [r.parameters["workers"] for r in serial] == [4, 8]
    assert serial[0].series_named("arrival_rate") == serial[1].series_named("arrival_rate")


def test_grid_errors_name_the_parameter() -> None:
    with pytest.raises(ConfigError, match="pool_sise"):
        grid_runs({}, "pool_sise", [1, 2])
    with pytest.raises(ConfigError, match="at least one"):
        grid_runs({}, "pool_size", [])


def test_a_custom_estimator_replaces_the_fallback() -> None:
    def bayes_net(run: SimulationRun) -> list[ModeEstimate]:
        return [ModeEstimate("disk_full", 0.7, None)]

    answer = what_if({}, "workers", [4, 8], duration_s=3, estimate=bayes_net)
    assert answer.appearances[0].mode == "disk_full" and answer.appearances[0].first_index == 0
    assert answer.points[0].modes[0].name == "disk_full"
    assert answer.model_dump()["change"] == "workers"
