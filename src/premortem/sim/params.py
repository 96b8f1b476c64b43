"""The built-in models and their documented parameters.

Every model is a configuration of one engine (`premortem.sim.engine.ServiceModel`):

    service  the full model: bursty, diurnal arrivals; workers; bounded queue; connection pool
             with lock contention; client timeouts and retries with backoff
    mmc      M/M/c: Poisson arrivals, c exponential servers, unbounded queue (theory checks)
    mmck     M/M/c/K: as M/M/c with at most K requests in the system, the rest blocked

Parameter values may be numbers or strings (as typed on a command line); "inf" means unbounded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from premortem.errors import ConfigError
from premortem.sim.engine import ServiceConfig

ParamValue = float | int | str
Kind = Literal["int", "float"]


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    default: float
    kind: Kind
    unit: str
    description: str
    minimum: float = 0.0
    maximum: float = math.inf
    allow_inf: bool = False


_RATE = ParamSpec(
    "request_rate", 100.0, "float", "req/s", "mean arrival rate of new requests", minimum=1e-9
)
_WORKERS = ParamSpec(
    "workers", 16, "int", "", "worker threads/processes serving requests", minimum=1
)
_SERVICE = ParamSpec(
    "service_time_s", 0.01, "float", "s", "mean CPU time per request (exponential)"
)

SERVICE_PARAMS = (
    _RATE,
    ParamSpec(
        "burstiness", 1.0, "float", "",
        "squared CV of inter-arrival gaps (gamma): 1 = Poisson, > 1 = bursty", minimum=1e-3,
    ),
    ParamSpec(
        "diurnal_amplitude", 0.0, "float", "",
        "the rate swings by ± this share over a diurnal period", maximum=0.99,
    ),
    ParamSpec("diurnal_period_s", 86_400.0, "float", "s", "period of the diurnal shape", minimum=1),
    _WORKERS,
    ParamSpec(
        "queue_capacity", 100, "int", "requests",
        "requests that may wait for a worker; more are dropped", allow_inf=True,
    ),
    _SERVICE,
    ParamSpec(
        "pool_size", 10, "int", "connections",
        "database connections; a worker holds one per request (0: no database)",
    ),
    ParamSpec("query_time_s", 0.03, "float", "s", "mean query time (exponential), uncontended"),
    ParamSpec(
        "lock_contention", 0.02, "float", "",
        "each other query in flight stretches a query by this share",
    ),
    ParamSpec(
        "pool_timeout_s", 0.5, "float", "s",
        "waiting longer for a connection fails the request", minimum=1e-3, allow_inf=True,
    ),
    ParamSpec(
        "timeout_s", 1.0, "float", "s", "the client gives up after this long",
        minimum=1e-3, allow_inf=True,
    ),
    ParamSpec("retries", 2, "int", "", "client retries after a timeout or a drop"),
    ParamSpec("backoff_s", 0.1, "float", "s", "first retry delay; doubles per retry, ±50% jitter"),
)  # fmt: skip

MMC_PARAMS = (
    ParamSpec("request_rate", 700.0, "float", "req/s", "Poisson arrival rate λ", minimum=1e-9),
    ParamSpec("workers", 10, "int", "", "servers c", minimum=1),
    ParamSpec(
        "service_time_s", 0.01, "float", "s", "mean exponential service time 1/μ", minimum=1e-9
    ),
)
MMCK_PARAMS = (
    *MMC_PARAMS,
    ParamSpec(
        "capacity",
        20,
        "int",
        "requests",
        "K: most requests in the system (in service + queued)",
        minimum=1,
    ),
)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    description: str
    params: tuple[ParamSpec, ...]

    def defaults(self) -> dict[str, float]:
        return {spec.name: spec.default for spec in self.params}


MODELS: dict[str, ModelSpec] = {
    "service": ModelSpec(
        "service", "service with workers, a bounded queue, a DB pool, timeouts and retries",
        SERVICE_PARAMS,
    ),
    "mmc": ModelSpec("mmc", "M/M/c queue (Erlang C), for theory checks", MMC_PARAMS),
    "mmck": ModelSpec("mmck", "M/M/c/K queue with blocking, for theory checks", MMCK_PARAMS),
}  # fmt: skip


def model_spec(model: str) -> ModelSpec:
    try:
        return MODELS[model]
    except KeyError:
        raise ConfigError(f"unknown model {model!r}; known: {', '.join(MODELS)}") from None


def resolve_params(model: str, params: Mapping[str, ParamValue]) -> dict[str, float]:
    """The model's defaults overlaid with `params`, coerced and range-checked."""
    spec = model_spec(model)
    by_name = {p.name: p for p in spec.params}
    unknown = sorted(set(params) - set(by_name))
    if unknown:
        raise ConfigError(
            f"unknown parameter {unknown[0]!r} for model {model!r}; known: {', '.join(by_name)}"
        )
    resolved = spec.defaults()
    for name, raw in params.items():
        resolved[name] = _coerce(by_name[name], raw)
    if model == "mmck" and resolved["capacity"] < resolved["workers"]:
        raise ConfigError("parameter 'capacity' (K) must be at least 'workers' (c)")
    return resolved


def _coerce(spec: ParamSpec, raw: ParamValue) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"parameter {spec.name!r} must be a number, got {raw!r}") from None
    if math.isnan(value) or (math.isinf(value) and not spec.allow_inf):
        raise ConfigError(f"parameter {spec.name!r} must be finite, got {raw!r}")
    if math.isfinite(value) and spec.kind == "int":
        if value != int(value):
            raise ConfigError(f"parameter {spec.name!r} must be a whole number, got {raw!r}")
        value = int(value)
    if not spec.minimum <= value <= spec.maximum:
        raise ConfigError(
            f"parameter {spec.name!r} must be in [{spec.minimum}, {spec.maximum}], got {raw!r}"
        )
    return value


def engine_config(model: str, resolved: Mapping[str, float]) -> ServiceConfig:
    """Map a model's resolved parameters onto the engine."""
    rate, service_s = float(resolved["request_rate"]), float(resolved["service_time_s"])
    workers = int(resolved["workers"])
    if model == "mmc":
        return ServiceConfig(request_rate=rate, service_time_s=service_s, workers=workers)
    if model == "mmck":
        queue = resolved["capacity"] - workers
        return ServiceConfig(
            request_rate=rate, service_time_s=service_s, workers=workers, queue_capacity=queue
        )
    return ServiceConfig(
        request_rate=rate,
        service_time_s=service_s,
        workers=workers,
        queue_capacity=float(resolved["queue_capacity"]),
        burstiness=float(resolved["burstiness"]),
        diurnal_amplitude=float(resolved["diurnal_amplitude"]),
        diurnal_period_s=float(resolved["diurnal_period_s"]),
        pool_size=int(resolved["pool_size"]),
        query_time_s=float(resolved["query_time_s"]),
        lock_contention=float(resolved["lock_contention"]),
        pool_timeout_s=float(resolved["pool_timeout_s"]),
        timeout_s=float(resolved["timeout_s"]),
        retries=int(resolved["retries"]),
        backoff_s=float(resolved["backoff_s"]),
    )
