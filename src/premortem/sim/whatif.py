"""What-If: run a model over a grid of one parameter and say which failure modes appear, and where.

Three layers, each usable alone:

- `grid_runs` simulates every grid point with the same seed (common random numbers, so that the
  differences between points come from the change, not from noise);
- `conditions` turns a run (built-in or ingested) into discrete failure-precursor conditions, the
  `simulation_condition` evidence of the Bayesian network in `premortem.learn`;
- `failure_modes_from_run` is the explainable fallback used when no network is trained: each mode
  gets a per-second score in [0, 1]; its probability is the mean score over the run and it first
  appears at the first second scoring at least 0.5.

`what_if` puts them together; pass `estimate=` to infer with the Bayesian network instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field

from premortem.domain import SimulationRun
from premortem.errors import ConfigError
from premortem.sim.faults import FaultSpec
from premortem.sim.params import ParamValue, model_spec
from premortem.sim.run import run_model

WHATIF_DURATION_S = 60.0  # long enough for steady state at tens of requests per second
SATURATED = 0.9  # a utilisation p95 above this is "saturated"
HIGH_ERROR_RATE = 0.05
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

CONDITIONS: dict[str, str] = {
    "pool_utilisation_p95": "95th percentile of per-second pool utilisation",
    "pool_saturated": f"pool_utilisation_p95 > {SATURATED}",
    "worker_utilisation_p95": "95th percentile of per-second worker utilisation",
    "workers_saturated": f"worker_utilisation_p95 > {SATURATED}",
    "pool_exhausted": "a pool_exhausted event occurred",
    "pool_exhausted_share": "mean share of each second the pool was exhausted",
    "pool_wait_p95_s": "95th percentile of per-second mean connection wait",
    "queue_overflow": "a queue_overflow event occurred",
    "drop_rate": "mean per-second drop rate",
    "timeout_storm": "a timeout_storm event occurred",
    "error_rate": "mean per-second error rate",
    "high_error_rate": f"error_rate > {HIGH_ERROR_RATE}",
    "latency_p99_s": "median over seconds of the per-second p99 latency",
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


def _values(run: SimulationRun, name: str) -> npt.NDArray[np.float64]:
    """A series as floats with NaN for gaps; empty when the run does not have it."""
    series = run.series_named(name)
    if series is None:
        return np.zeros(0)
    return np.array([math.nan if v is None else v for v in series.values], dtype=np.float64)


def _stat(values: npt.NDArray[np.float64], statistic: str) -> float:
    finite = values[~np.isnan(values)]
    if not len(finite):
        return 0.0
    if statistic == "mean":
        return float(finite.mean())
    quantile = {"p95": 95.0, "median": 50.0}[statistic]
    return float(np.percentile(finite, quantile))


def conditions(run: SimulationRun) -> dict[str, bool | float]:
    """Failure-precursor conditions of a run (see CONDITIONS); missing series count as zero."""
    types = {event.type for event in run.events}
    pool_p95 = _stat(_values(run, "pool_utilisation"), "p95")
    worker_p95 = _stat(_values(run, "worker_utilisation"), "p95")
    error_rate = _stat(_values(run, "error_rate"), "mean")
    return {
        "pool_utilisation_p95": round(pool_p95, 6),
        "pool_saturated": pool_p95 > SATURATED,
        "worker_utilisation_p95": round(worker_p95, 6),
        "workers_saturated": worker_p95 > SATURATED,
        "pool_exhausted": "pool_exhausted" in types,
        "pool_exhausted_share": round(_stat(_values(run, "pool_exhausted_fraction"), "mean"), 6),
        "pool_wait_p95_s": round(_stat(_values(run, "pool_wait_s"), "p95"), 6),
        "queue_overflow": "queue_overflow" in types,
        "drop_rate": round(_stat(_values(run, "drop_rate"), "mean"), 6),
        "timeout_storm": "timeout_storm" in types,
        "error_rate": round(error_rate, 6),
        "high_error_rate": error_rate > HIGH_ERROR_RATE,
        "latency_p99_s": round(_stat(_values(run, "latency_p99_s"), "median"), 6),
    }


def mode_scores(run: SimulationRun) -> dict[str, npt.NDArray[np.float64]]:
    """Per-second scores in [0, 1] of each catalogued mode (see MODE_CATALOGUE explanations)."""
    timeout_s = _timeout_of(run)
    p99 = _values(run, "latency_p99_s")
    slowness = np.where(np.isnan(p99), 1.0, np.minimum(p99 / timeout_s, 1.0))  # no reply: stuck
    exhausted = np.nan_to_num(_values(run, "pool_exhausted_fraction"))
    drops = np.nan_to_num(_values(run, "drop_rate"))
    timeouts = np.nan_to_num(_values(run, "timeout_rate"))
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
) -> WhatIfResult:
    """Predicted failure modes at every grid point, and where along the grid each appears."""
    runs = grid_runs(
        base_params, change, values,
        model=model, seed=seed, duration_s=duration_s, faults=faults, executor=executor,
    )  # fmt: skip
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
