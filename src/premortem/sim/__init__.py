"""Discrete-event (SimPy) models of the things that fail, and What-If analysis over them.

>>> from premortem.sim import run_model
>>> run = run_model("service", {"request_rate": 50}, seed=1, duration_s=5)
>>> run.source, run.series_named("throughput") is not None
('builtin', True)
"""

from premortem.conditions import CONDITIONS, conditions
from premortem.sim.faults import FaultSpec, FaultType
from premortem.sim.params import MODELS, ModelSpec, ParamSpec, resolve_params
from premortem.sim.run import DEFAULT_STARTED_AT, run_model
from premortem.sim.whatif import (
    MODE_CATALOGUE,
    ModeEstimate,
    WhatIfResult,
    failure_modes_from_run,
    grid_runs,
    what_if,
)

__all__ = [
    "CONDITIONS",
    "DEFAULT_STARTED_AT",
    "MODELS",
    "MODE_CATALOGUE",
    "FaultSpec",
    "FaultType",
    "ModeEstimate",
    "ModelSpec",
    "ParamSpec",
    "WhatIfResult",
    "conditions",
    "failure_modes_from_run",
    "grid_runs",
    "resolve_params",
    "run_model",
    "what_if",
]
