"""The vocabulary `learn/` and `sim/` share: network node names and the conditions of a run.

The Bayesian network (`premortem.learn`) has a fault node and context variables named after
run conditions; What-If (`premortem.sim.inference`) gives evidence for them from a simulated
run. Both import the names from here, so neither imports the other. Context variables are
``sim:<condition>`` (a condition of `conditions(run)`, optionally ``>=<x>``) and
``load:<parameter>>=<x>``.

>>> from premortem.domain import SimulationRun
>>> run = SimulationRun(simulation_id="s", model="service", started_at="2024-01-01T00:00:00Z")
>>> conditions(run)["pool_saturated"], conditions(run).keys() == CONDITIONS.keys()
(False, True)
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from premortem.domain import SimulationRun

FAULT = "fault"
NO_FAULT = "none"
SIM_PREFIX = "sim:"
LOAD_PREFIX = "load:"
# Context variables (run conditions, not log evidence): never observed by the online predictor
# unless given, so inference sums them out; What-If gives them from a simulated run.
CONTEXT_PREFIXES = (SIM_PREFIX, LOAD_PREFIX)

SATURATED = 0.9  # a utilisation p95 above this is "saturated"
HIGH_ERROR_RATE = 0.05

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


def conditions(run: SimulationRun) -> dict[str, bool | float]:
    """Failure-precursor conditions of a run (see CONDITIONS); missing series count as zero."""
    types = {event.type for event in run.events}
    pool_p95 = _stat(series_values(run, "pool_utilisation"), "p95")
    worker_p95 = _stat(series_values(run, "worker_utilisation"), "p95")
    error_rate = _stat(series_values(run, "error_rate"), "mean")
    return {
        "pool_utilisation_p95": round(pool_p95, 6),
        "pool_saturated": pool_p95 > SATURATED,
        "worker_utilisation_p95": round(worker_p95, 6),
        "workers_saturated": worker_p95 > SATURATED,
        "pool_exhausted": "pool_exhausted" in types,
        "pool_exhausted_share": round(
            _stat(series_values(run, "pool_exhausted_fraction"), "mean"), 6
        ),
        "pool_wait_p95_s": round(_stat(series_values(run, "pool_wait_s"), "p95"), 6),
        "queue_overflow": "queue_overflow" in types,
        "drop_rate": round(_stat(series_values(run, "drop_rate"), "mean"), 6),
        "timeout_storm": "timeout_storm" in types,
        "error_rate": round(error_rate, 6),
        "high_error_rate": error_rate > HIGH_ERROR_RATE,
        "latency_p99_s": round(_stat(series_values(run, "latency_p99_s"), "median"), 6),
    }


def series_values(run: SimulationRun, name: str) -> npt.NDArray[np.float64]:
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
