"""Run conditions as network variables: load parameters and simulated conditions.

Log indicators say what the logs show now; context variables say under which conditions a run
happened, for the whole run. They are parents of the failure modes in the network like the log
indicators, but the online predictor never observes them (inference sums them out), while What-If
(`premortem.sim.inference`) gives them from a simulated run. Names follow that module's contract:

- ``load:<parameter>>=<x>`` — a numeric test-run parameter at or above x (one per learned
  `load_condition` trigger);
- ``sim:<condition>`` — a boolean of `premortem.conditions.conditions` (``sim:pool_exhausted``,
  ``sim:pool_saturated``, ``sim:queue_overflow``, ``sim:timeout_storm``, …) of the simulation
  linked to the run;
- ``sim:<condition>>=<x>`` — a numeric condition at or above the lowest value among the
  failures' linked simulations (when that separates anything).

A test run is linked to a simulation by its `simulation_id` parameter, else to the latest
simulation of the same service that started before it and agrees with it on every shared
parameter (at least one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from premortem.conditions import LOAD_PREFIX, SIM_PREFIX
from premortem.domain import FailureMode, SimulationRun, TestRun, TriggerKind

_NAME = re.compile(r"^[a-z_0-9]+$")


def number_text(value: float) -> str:
    """A threshold as text the What-If variable parser reads (no '+' in exponents)."""
    return f"{value:.6g}".replace("e+", "e")


def load_variables(modes: Sequence[FailureMode]) -> dict[str, tuple[str, float]]:
    """`load:<p>>=<x>` per learned load_condition trigger: name -> (parameter, threshold)."""
    out: dict[str, tuple[str, float]] = {}
    for mode in modes:
        for trigger in mode.triggers:
            condition = trigger.condition
            if trigger.kind != TriggerKind.LOAD_CONDITION or "parameter" not in condition:
                continue
            name, value = str(condition["parameter"]), float(condition["value"])
            if _NAME.match(name):
                out[f"{LOAD_PREFIX}{name}>={number_text(value)}"] = (name, value)
    return out


def linked_simulation(run: TestRun, simulations: Sequence[SimulationRun]) -> SimulationRun | None:
    """The simulation a test run names, else the latest agreeing one of its service before it."""
    named = run.parameters.get("simulation_id")
    if named is not None:
        return next((s for s in simulations if s.simulation_id == named), None)
    candidates = [
        s
        for s in simulations
        if (s.service or "") == (run.service or "")
        and s.started_at <= run.timestamp
        and _agree(s.parameters, run.parameters)
    ]
    return max(candidates, key=lambda s: s.started_at, default=None)


def _agree(simulated: Mapping[str, Any], tested: Mapping[str, Any]) -> bool:
    shared = set(simulated) & set(tested)
    return bool(shared) and all(simulated[k] == tested[k] for k in shared)


def run_contexts(
    runs: Sequence[TestRun],
    modes: Sequence[FailureMode],
    simulations: Sequence[SimulationRun],
) -> dict[str, frozenset[str]]:
    """Per test id, the context variables that hold for the run (absent: none hold)."""
    loads = load_variables(modes)
    conditions = _conditions_by_run(runs, simulations)
    failed = {r.test_id for r in runs if r.failed}
    numeric = _numeric_thresholds(conditions, failed)
    contexts: dict[str, frozenset[str]] = {}
    for run in runs:
        held = {
            name
            for name, (parameter, value) in loads.items()
            if _number(run.parameters.get(parameter)) >= value
        }
        for condition, value in conditions.get(run.test_id, {}).items():
            if isinstance(value, bool):
                if value:
                    held.add(f"{SIM_PREFIX}{condition}")
            elif condition in numeric and value >= numeric[condition]:
                held.add(f"{SIM_PREFIX}{condition}>={number_text(numeric[condition])}")
        if held:
            contexts[run.test_id] = frozenset(held)
    return contexts


def _conditions_by_run(
    runs: Sequence[TestRun], simulations: Sequence[SimulationRun]
) -> dict[str, dict[str, bool | float]]:
    if not simulations:
        return {}
    from premortem.conditions import conditions  # only when there are simulations to read

    out = {}
    for run in runs:
        simulation = linked_simulation(run, simulations)
        if simulation is not None:
            out[run.test_id] = conditions(simulation)
    return out


def _numeric_thresholds(
    conditions: Mapping[str, Mapping[str, bool | float]], failed: set[str]
) -> dict[str, float]:
    """Per numeric condition, the lowest value among failed runs, where some run is below it."""
    thresholds = {}
    names = {k for c in conditions.values() for k, v in c.items() if not isinstance(v, bool)}
    for name in sorted(names):
        values = {run: float(c[name]) for run, c in conditions.items() if name in c}
        failing = [v for run, v in values.items() if run in failed]
        if failing and any(v < min(failing) for v in values.values()):
            thresholds[name] = min(failing)
    return thresholds


def _number(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return float("-inf")
