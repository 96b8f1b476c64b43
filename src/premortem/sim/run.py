"""Run a built-in model and return a `SimulationRun`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import simpy

from premortem.domain import SimulationRun, stable_id
from premortem.errors import ConfigError
from premortem.sim.engine import ServiceModel
from premortem.sim.faults import FaultSpec
from premortem.sim.metrics import derive_events, series_arrays, to_series
from premortem.sim.params import ParamValue, engine_config, resolve_params

# Simulations never read the wall clock: without a given start, runs are stamped at this epoch.
DEFAULT_STARTED_AT = datetime(2024, 1, 1, tzinfo=UTC)
_PROGRESS_STEPS = 50


def run_model(
    model: str,
    params: Mapping[str, ParamValue],
    *,
    seed: int = 0,
    duration_s: float = 300,
    faults: Sequence[FaultSpec] = (),
    started_at: datetime | None = None,
    progress: Callable[[float], None] | None = None,
) -> SimulationRun:
    """Simulate `model` for `duration_s` simulated seconds; the same inputs give the same run.

    `params` overrides the model's documented defaults (`premortem.sim.MODELS`); an unknown name
    or a bad value raises ConfigError naming it. `progress` is called with the share done (0..1).
    """
    if not (math.isfinite(duration_s) and duration_s >= 1):
        raise ConfigError(f"duration_s must be a finite number of seconds >= 1, got {duration_s}")
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    resolved = resolve_params(model, params)
    config = engine_config(model, resolved)
    env = simpy.Environment()
    engine = ServiceModel(env, config, seed=seed, faults=faults)
    steps = _PROGRESS_STEPS if progress else 1
    for step in range(1, steps + 1):
        env.run(until=duration_s * step / steps)
        if progress:
            progress(step / steps)
    n_bins = math.ceil(duration_s)
    arrays = series_arrays(engine.trace, config, n_bins)
    fault_dicts = [fault.model_dump(exclude_none=True) for fault in faults]
    parameters: dict[str, object] = {**resolved, "faults": fault_dicts} if faults else {**resolved}
    start = started_at or DEFAULT_STARTED_AT
    return SimulationRun(
        simulation_id=stable_id(
            "sim", model, _jsonable(parameters), seed, duration_s, start.isoformat()
        ),
        model=model,
        parameters=_jsonable(parameters),
        started_at=start,
        duration_s=duration_s,
        seed=seed,
        source="builtin",
        events=derive_events(engine.trace, config, arrays),
        series=to_series(arrays),
    )


def _jsonable(parameters: Mapping[str, object]) -> dict[str, object]:
    """JSON has no infinity: unbounded values are written as the string "inf"."""
    return {
        k: "inf" if isinstance(v, float) and math.isinf(v) else v for k, v in parameters.items()
    }
