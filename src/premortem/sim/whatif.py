"""What-If: run a model over a grid of one parameter and say which failure modes appear, and where.

Three layers, each usable alone:

- `grid_runs` simulates every grid point with the same seed (common random numbers, so that the
  differences between points come from the change, not from noise);
- `conditions` (`premortem.conditions`) turns a run (built-in or ingested) into discrete
  failure-precursor conditions, the `simulation_condition` evidence of the Bayesian network in
  `premortem.learn`;
- `failure_modes_from_run` is the explainable fallback used when no network is trained: each mode
  gets a per-second score in [0, 1]; its probability is the mean score over the run and it first
  appears at the first second scoring at least 0.5.

`what_if` puts them together; pass `estimate=` to infer with the Bayesian network instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Executor
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field

from premortem.conditions import conditions, series_values
from premortem.domain import SimulationRun
from premortem.errors import ConfigError
from premortem.sim.faults import FaultSpec
from premortem.sim.params import ParamValue, model_spec
from premortem.sim.run import run_model

WHATIF_DURATION_S = 60.0  # long enough for steady state at tens of requests per second
DROP_RATE_FULL = 0.05  # a second dropping this share of requests scores 1 for queue overflow
TIMEOUT_RATE_FULL = 0.1  # a second with this share of timeouts scores 1 for a timeout storm


class ModeInfo(NamedTuple):
    name: str
    mitigation: str
    explanation: str


MODE_CATALOGUE: dict[str, ModeInfo] = {
    "pool_exhaustion": ModeInfo(
        "Connection pool exhaustion",
        "raise the pool size or shed load",
        "share of time the pool is exhausted, weighted by how near p99 latency is to the timeout",
    ),
    "queue_overflow": ModeInfo(
        "Request queue overflow",
        "add workers or apply back-pressure",
        f"share of time requests are dropped (a second dropping {DROP_RATE_FULL:.0%} counts fully)",
    ),
    "timeout_storm": ModeInfo(
        "Timeout storm",
        "tighten timeouts, retry with backoff and jitter, add a circuit breaker",
        f"share of time requests time out (a second with {TIMEOUT_RATE_FULL:.0%} counts fully)",
    ),
}


class ModeEstimate(NamedTuple):
    mode: str
    probability: float
    first_time_s: float | None


ModeEstimator = Callable[[SimulationRun], list[ModeEstimate]]


class ModePrediction(BaseModel):
    mode: str
    name: str
    probability: float = Field(ge=0, le=1)
    first_time_s: float | None = None
    mitigation: str = ""


class WhatIfPoint(BaseModel):
    value: float | int | str
    simulation_id: str
    modes: list[ModePrediction]
    conditions: dict[str, bool | float]


class ModeAppearance(BaseModel):
    """Where along the grid a mode first reaches the threshold (None: nowhere)."""

    mode: str
    name: str
    first_value: float | int | str | None
    first_index: int | None
    max_probability: float
    mitigation: str


class WhatIfResult(BaseModel):
    model: str
    change: str
    values: list[float | int | str]
    base_params: dict[str, float | int | str]
    seed: int
    duration_s: float
    threshold: float
    points: list[WhatIfPoint]
    appearances: list[ModeAppearance]


# --------------------------------------------------------------------------- running the grid


def grid_runs(
    base_params: Mapping[str, ParamValue],
    change: str,
    values: Sequence[ParamValue],
    *,
    model: str = "service",
    seed: int = 0,
    duration_s: float = WHATIF_DURATION_S,
    faults: Sequence[FaultSpec] = (),
    executor: Executor | None = None,
) -> list[SimulationRun]:
    """One run per value of `change` (the other parameters from `base_params`), in order.

    `executor` (e.g. a ProcessPoolExecutor the caller owns) runs the points in parallel.
    """
    if change not in {spec.name for spec in model_spec(model).params}:
        raise ConfigError(f"unknown parameter {change!r} to vary for model {model!r}")
    if not values:
        raise ConfigError("a What-If grid needs at least one value")
    grid = [{**base_params, change: value} for value in values]
    models, seeds, durations = [model] * len(grid), [seed] * len(grid), [duration_s] * len(grid)
    fault_lists = [tuple(faults)] * len(grid)
    if executor is None:
        return list(map(_run_point, models, grid, seeds, durations, fault_lists))
    return list(executor.map(_run_point, models, grid, seeds, durations, fault_lists))


def _run_point(
    model: str,
    params: Mapping[str, ParamValue],
    seed: int,
    duration_s: float,
    faults: Sequence[FaultSpec],
) -> SimulationRun:
    return run_model(model, params, seed=seed, duration_s=duration_s, faults=faults)


# --------------------------------------------------------------------------- reading a run


def mode_scores(run: SimulationRun) -> dict[str, npt.NDArray[np.float64]]:
    """Per-second scores in [0, 1] of each catalogued mode (see MODE_CATALOGUE explanations)."""
    timeout_s = _timeout_of(run)
    p99 = series_values(run, "latency_p99_s")
    slowness = np.where(np.isnan(p99), 1.0, np.minimum(p99 / timeout_s, 1.0))  # no reply: stuck
    exhausted = np.nan_to_num(series_values(run, "pool_exhausted_fraction"))
    drops = np.nan_to_num(series_values(run, "drop_rate"))
    timeouts = np.nan_to_num(series_values(run, "timeout_rate"))
    return {
        "pool_exhaustion": exhausted * slowness[: len(exhausted)],
        "queue_overflow": np.minimum(drops / DROP_RATE_FULL, 1.0),
        "timeout_storm": np.minimum(timeouts / TIMEOUT_RATE_FULL, 1.0),
    }


def _timeout_of(run: SimulationRun) -> float:
    try:
        timeout = float(run.parameters.get("timeout_s", 1.0))
    except (TypeError, ValueError):
        timeout = 1.0
    return timeout if math.isfinite(timeout) and timeout > 0 else 1.0


def failure_modes_from_run(run: SimulationRun) -> list[ModeEstimate]:
    """Explainable sim-only inference: every catalogued mode with its probability and onset."""
    estimates = []
    for mode, scores in mode_scores(run).items():
        probability = float(scores.mean()) if len(scores) else 0.0
        onset = np.flatnonzero(scores >= 0.5)
        first = float(onset[0]) if len(onset) else None
        if first is not None and (series := run.series_named(_MODE_SERIES[mode])) is not None:
            first = float(series.timestamps[int(onset[0])])
        estimates.append(ModeEstimate(mode, round(min(max(probability, 0.0), 1.0), 6), first))
    return estimates


_MODE_SERIES = {
    "pool_exhaustion": "pool_exhausted_fraction",
    "queue_overflow": "drop_rate",
    "timeout_storm": "timeout_rate",
}


# --------------------------------------------------------------------------- the answer


def what_if(
    base_params: Mapping[str, ParamValue],
    change: str,
    values: Sequence[ParamValue],
    *,
    model: str = "service",
    seed: int = 0,
    duration_s: float = WHATIF_DURATION_S,
    faults: Sequence[FaultSpec] = (),
    threshold: float = 0.5,
    estimate: ModeEstimator = failure_modes_from_run,
    executor: Executor | None = None,
    load_parameters: Collection[str] = (),
) -> WhatIfResult:
    """Predicted failure modes at every grid point, and where along the grid each appears.

    `load_parameters` are parameters the model does not simulate but `estimate` reads from a
    run's parameters: a trained network's `load:<parameter>>=x` variables, learned from test runs
    (`concurrent_users` of a k6 run, say). They may be set in `base_params` and varied; each
    point's run carries them, and varying one simulates the model once for every point.
    """
    check_parameter_names(model, [*base_params, change], load_parameters)
    if not values:
        raise ConfigError("a What-If grid needs at least one value")
    simulated = {k: v for k, v in base_params.items() if k not in load_parameters}
    given = {k: _load_value(k, v) for k, v in base_params.items() if k in load_parameters}
    if change in load_parameters:
        once = run_model(model, simulated, seed=seed, duration_s=duration_s, faults=faults)
        runs = [_with_load(once, {**given, change: _load_value(change, v)}) for v in values]
    else:
        runs = grid_runs(
            simulated, change, values,
            model=model, seed=seed, duration_s=duration_s, faults=faults, executor=executor,
        )  # fmt: skip
        runs = [_with_load(run, given) for run in runs] if given else runs
    points = [_point(value, run, estimate) for value, run in zip(values, runs, strict=True)]
    return WhatIfResult(
        model=model,
        change=change,
        values=list(values),
        base_params=dict(base_params),
        seed=seed,
        duration_s=duration_s,
        threshold=threshold,
        points=points,
        appearances=_appearances(points, threshold),
    )


def check_parameter_names(
    model: str, names: Sequence[str], load_parameters: Collection[str]
) -> None:
    """Every name is a parameter of the model or a learned load parameter (else a ConfigError
    naming both lists)."""
    simulated = [spec.name for spec in model_spec(model).params]
    unknown = sorted(set(names) - set(simulated) - set(load_parameters))
    if unknown:
        learned = ", ".join(sorted(load_parameters)) or "none"
        raise ConfigError(
            f"unknown parameter {unknown[0]!r} for model {model!r}; known: "
            f"{', '.join(simulated)}; learned load parameters of the trained model: {learned}"
        )


def _load_value(name: str, raw: ParamValue) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"parameter {name!r} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"parameter {name!r} must be finite, got {raw!r}")
    return value


def _with_load(run: SimulationRun, load: Mapping[str, float]) -> SimulationRun:
    """The run with the load parameters among its parameters (where `load:` evidence reads)."""
    return run.model_copy(update={"parameters": {**run.parameters, **load}})


def _point(value: ParamValue, run: SimulationRun, estimate: ModeEstimator) -> WhatIfPoint:
    modes = []
    for found in estimate(run):
        info = MODE_CATALOGUE.get(found.mode)
        modes.append(
            ModePrediction(
                mode=found.mode,
                name=info.name if info else found.mode,
                probability=found.probability,
                first_time_s=found.first_time_s,
                mitigation=info.mitigation if info else "",
            )
        )
    return WhatIfPoint(
        value=value, simulation_id=run.simulation_id, modes=modes, conditions=conditions(run)
    )


def _appearances(points: Sequence[WhatIfPoint], threshold: float) -> list[ModeAppearance]:
    by_mode: dict[str, list[tuple[int, ModePrediction]]] = {}
    for index, point in enumerate(points):
        for prediction in point.modes:
            by_mode.setdefault(prediction.mode, []).append((index, prediction))
    found = []
    for mode, seen in by_mode.items():
        first = next((i for i, p in seen if p.probability >= threshold), None)
        found.append(
            ModeAppearance(
                mode=mode,
                name=seen[0][1].name,
                first_value=None if first is None else points[first].value,
                first_index=first,
                max_probability=max(p.probability for _, p in seen),
                mitigation=seen[0][1].mitigation,
            )
        )
    return found
