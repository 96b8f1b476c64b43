"""What-If analysis and Simulation Playback over HTTP.

- `POST /api/v1/what-if` runs a built-in model over a grid of one parameter and infers the failure
  modes at every point with the trained Bayesian network where it has variables a simulation can
  give evidence for (`premortem.sim.inference`), else with the simulation alone — the answer says
  which (`inference`).
- `GET /api/v1/simulations/{id}/playback` puts a stored simulation and the observed windows of
  the same service on one time axis: the simulation's relative time is shifted onto an observed
  start (`start`, default the service's first observed window), with simulated events, detected
  anomalies and alerts as markers. Live metric series (Prometheus remote-write) of the same
  quantity are drawn beside the simulated ones (`live_side`; mapping in docs/simulation.md).
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, model_validator

from premortem.alerting.model import AlertQuery
from premortem.domain import MAX_NS, Integer, Number, SimulationRun, datetime_to_ns, rfc3339_ns
from premortem.errors import ConfigError
from premortem.learn import TrainedModel
from premortem.ports import SeriesQuery, SeriesStore
from premortem.runtime.assembly import Runtime
from premortem.service.deps import CanRead
from premortem.service.params import QueryTime
from premortem.service.routes_series import series_store
from premortem.sim import FaultSpec, what_if
from premortem.sim.inference import NetworkEstimator, describe_modes, load_parameters
from premortem.sim.params import ParamValue, model_spec, resolve_params
from premortem.sim.whatif import check_parameter_names

router = APIRouter(prefix="/api/v1", tags=["simulation"])

NS = 1_000_000_000
# 30 simulated seconds per point reach steady state at tens of requests per second and keep a
# 10-point answer near 1 s on two busy cores (60 s costs twice as much for the same verdicts).
DEFAULT_DURATION_S = 30.0
MAX_POINTS = 50
MAX_SIMULATED_S = 3000.0  # points x duration_s per request: bounds the CPU one request can take
# Simulated requests per What-If request (request_rate x duration_s, summed over the grid): the
# simulation's cost grows with them (~1.3 s per 100k on one core), and an unbounded rate would hold
# a core for days. 2.5M is what MAX_SIMULATED_S costs at the default 700 req/s.
MAX_ARRIVALS = 2_500_000
MAX_PLAYBACK_POINTS = 2000
MAX_MARKERS = 500


# --------------------------------------------------------------------------- What-If


class WhatIfRequest(BaseModel):
    """One parameter varied over `values` (or `from`..`to` in `steps` points), the rest fixed."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    service: str | None = Field(default=None, max_length=256)
    model: str = "service"
    params: dict[str, float | int | str] = Field(default_factory=dict)
    change: str = Field(min_length=1)
    values: list[float | int | str] | None = Field(default=None, min_length=1)
    start: Number | None = Field(default=None, alias="from", allow_inf_nan=False)
    stop: Number | None = Field(default=None, alias="to", allow_inf_nan=False)
    steps: Integer | None = Field(default=None, ge=2, le=MAX_POINTS)
    faults: list[FaultSpec] = Field(default_factory=list, max_length=20)
    seed: Integer = Field(default=0, ge=0)
    duration_s: Number = Field(default=DEFAULT_DURATION_S, ge=1, le=3600)
    threshold: Number = Field(default=0.5, gt=0, le=1)

    @model_validator(mode="after")
    def _one_grid(self) -> WhatIfRequest:
        ranged = (self.start, self.stop, self.steps)
        if self.values is None and None in ranged:
            raise ValueError("give either values or from, to and steps")
        if self.values is not None and any(x is not None for x in ranged):
            raise ValueError("give values or from/to/steps, not both")
        if self.values is not None and len(self.values) > MAX_POINTS:
            raise ValueError(f"at most {MAX_POINTS} values")
        wide = self.start is not None and self.stop is not None
        if wide and not math.isfinite((self.stop or 0.0) - (self.start or 0.0)):
            raise ValueError("from and to must be less than 1e308 apart")
        return self

    def grid(self) -> list[ParamValue]:
        if self.values is not None:
            return list(self.values)
        assert self.start is not None and self.stop is not None and self.steps is not None
        step = (self.stop - self.start) / (self.steps - 1)
        points = [self.start + i * step for i in range(self.steps)]
        if _is_int_param(self.model, self.change):
            return list(dict.fromkeys(round(p) for p in points))
        return [round(p, 9) for p in points]


def _is_int_param(model: str, name: str) -> bool:
    return any(p.name == name and p.kind == "int" for p in model_spec(model).params)


def trained_model(runtime: Runtime) -> tuple[TrainedModel | None, int]:
    """The model the server predicts with (the newest stored one if none is loaded yet)."""
    predictor = runtime.prediction.predictor
    if predictor is not None:
        return predictor.model, runtime.prediction.version
    stored = runtime.models.latest()
    if stored is None:
        return None, 0
    cached = _loaded.get(stored.version)
    if cached is None:
        _loaded.clear()
        cached = _loaded[stored.version] = TrainedModel.loads(stored.blob)
    return cached, stored.version


_loaded: dict[int, TrainedModel] = {}


def answer_what_if(runtime: Runtime, body: WhatIfRequest) -> dict[str, Any]:
    started = time.perf_counter()
    values = body.grid()
    if len(values) * body.duration_s > MAX_SIMULATED_S:
        raise ConfigError(
            f"duration_s x grid points must be at most {MAX_SIMULATED_S:g} simulated seconds, "
            f"got {body.duration_s:g} x {len(values)}"
        )
    model, version = trained_model(runtime)
    learned = load_parameters(model.network if model else None)
    check_parameter_names(body.model, [*body.params, body.change], learned)
    _check_arrivals(body, values, learned)
    estimator = NetworkEstimator(
        model.network if model else None,
        model.modes if model else (),
        service=body.service,
        faults=body.faults,
    )
    result = what_if(
        body.params,
        body.change,
        values,
        model=body.model,
        seed=body.seed,
        duration_s=body.duration_s,
        faults=body.faults,
        threshold=body.threshold,
        estimate=estimator,
        load_parameters=learned,
    )
    result = describe_modes(result, model.modes if model else ())
    return {
        "service": body.service,
        **result.model_dump(mode="json"),
        "faults": [f.model_dump(mode="json", exclude_none=True) for f in body.faults],
        "inference": estimator.inference,
        "inference_note": estimator.note,
        "evidence_variables": estimator.variables,
        "load_parameters": learned,
        "model_version": version or None,
        "elapsed_s": round(time.perf_counter() - started, 4),
    }


def _check_arrivals(body: WhatIfRequest, values: list[ParamValue], learned: list[str]) -> None:
    arrivals = 0.0
    simulated = {k: v for k, v in body.params.items() if k not in learned}
    for value in values if body.change not in learned else values[:1]:
        point = simulated if body.change in learned else {**simulated, body.change: value}
        resolved = resolve_params(body.model, point)
        arrivals += resolved.get("request_rate", 0.0) * body.duration_s
    if arrivals > MAX_ARRIVALS:
        raise ConfigError(
            f"request_rate x duration_s over the grid must be at most {MAX_ARRIVALS:g} simulated "
            f"requests, got {arrivals:.3g}"
        )


@router.post("/what-if", dependencies=[CanRead])
async def post_what_if(body: WhatIfRequest, request: Request) -> dict[str, Any]:
    """Predicted failure modes along a parameter grid, where each appears, and its mitigation."""
    runtime: Runtime = request.app.state.runtime
    return await run_in_threadpool(answer_what_if, runtime, body)


# --------------------------------------------------------------------------- playback


# (panel title, simulated series on the left axis, observed series, right-axis simulated series)
PANELS: tuple[tuple[str, list[str], list[str], list[str]], ...] = (
    ("Load", ["arrival_rate", "throughput"], ["log_rate"], []),
    ("Errors", ["error_rate", "timeout_rate", "drop_rate"], ["error_ratio"], []),
    ("Utilisation and latency", ["pool_utilisation", "worker_utilisation"], [], ["latency_p99_s"]),
    ("Queues", ["queue_length", "pool_waiting"], [], []),
)
LIVE_PREFIX = "live "
MetricMapping = dict[str, str]  # simulated quantity -> live metric name
_NAME = r"[^=,]*[^=,\s][^=,]*"  # anything but '=' and ',', not blank
METRICS_PATTERN = rf"^{_NAME}={_NAME}(,{_NAME}={_NAME})*$"
OBSERVED_UNITS = {"log_rate": "lines/s", "error_ratio": "ratio"}


def _downsample(times: list[float], values: list[float | None]) -> tuple[list[float], list[Any]]:
    """At most MAX_PLAYBACK_POINTS points: bucket means (gaps stay gaps)."""
    if len(times) <= MAX_PLAYBACK_POINTS:
        return times, values
    size = math.ceil(len(times) / MAX_PLAYBACK_POINTS)
    out_t, out_v = [], []
    for i in range(0, len(times), size):
        chunk = [v for v in values[i : i + size] if v is not None]
        out_t.append(times[i])
        out_v.append(round(sum(chunk) / len(chunk), 6) if chunk else None)
    return out_t, out_v


def simulated_side(run: SimulationRun) -> tuple[dict[str, Any], list[dict[str, Any]], float]:
    series = {}
    end = float(run.duration_s or 0)
    for s in run.series:
        times, values = _downsample([float(t) for t in s.timestamps], list(s.values))
        series[s.name] = {"unit": s.unit, "t": times, "values": values}
        if s.timestamps:
            end = max(end, float(s.timestamps[-1]) + float(s.metadata.get("window_s", 0) or 0))
    events = [
        {"t": e.time, "type": e.type, "source": "simulation", "attributes": e.attributes}
        for e in run.events[:MAX_MARKERS]
    ]
    return series, events, max(end, max((e.time for e in run.events), default=0.0))


def observed_side(
    runtime: Runtime, service: str, start_ns: int, end_ns: int
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    windows = runtime.windows.list_windows(service, start_ns, end_ns)
    t = [(w.start_ns - start_ns) / NS for w in windows]
    rate = [round(w.total / max((w.end_ns - w.start_ns) / NS, 1e-9), 6) for w in windows]
    ratio = [round(w.errors / w.total, 6) if w.total else None for w in windows]
    series = {
        name: {"unit": OBSERVED_UNITS[name], "t": t, "values": values}
        for name, values in (("log_rate", rate), ("error_ratio", ratio))
        if windows
    }
    anomalies = runtime.anomalies.list_anomalies(
        service=service, since_ns=start_ns, until_ns=end_ns, limit=MAX_MARKERS
    ).items
    marks = [
        {
            "t": (a.time_ns - start_ns) / NS,
            "type": a.detector,
            "source": "anomaly",
            "summary": a.summary,
            "score": a.score,
        }
        for a in sorted(anomalies, key=lambda a: a.time_ns)
    ]
    alerts = runtime.alerting.list_alerts(
        AlertQuery(service=service, since_ns=start_ns, until_ns=end_ns, limit=MAX_MARKERS)
    ).items
    alert_marks = [
        {
            "t": (a.started_ns - start_ns) / NS,
            "end_t": None if a.resolved_ns is None else (a.resolved_ns - start_ns) / NS,
            "type": "alert",
            "source": "alert",
            "mode_id": a.mode_id,
            "name": _alert_name(a.doc, a.mode_id),
            "state": str(a.state),
            "probability": a.probability,
            "id": a.id,
        }
        for a in sorted(alerts, key=lambda a: a.started_ns)
    ]
    return series, marks, alert_marks


def parse_mapping(text: str | None) -> MetricMapping:
    """`quantity=metric,quantity=metric` (the playback's `metrics` parameter)."""
    mapping: MetricMapping = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        quantity, equals, metric = pair.partition("=")
        if not equals or not quantity.strip() or not metric.strip():
            raise ConfigError(f"metrics must be quantity=metric pairs, got {pair.strip()[:80]!r}")
        mapping[quantity.strip()] = metric.strip()
    return mapping


def live_side(
    store: SeriesStore,
    simulated: dict[str, Any],
    service: str,
    mapping: MetricMapping,
    start_ns: int,
    end_ns: int,
) -> tuple[dict[str, Any], list[str]]:
    """Live series of the simulated quantities: `live <quantity>` -> {unit, t, values, metric,
    labels}, in the simulated series' unit, and notes on what could not be matched.

    A quantity's live metric is `mapping[quantity]`, else a metric of the quantity's own name.
    Of that metric's series the one labelled with the service (`MetricSeries.service`) is taken,
    else the only one there is."""
    live: dict[str, Any] = {}
    notes: list[str] = []
    for quantity, sim in simulated.items():
        metric = mapping.get(quantity, quantity)
        page = store.list_series(SeriesQuery(metric, start_ns, end_ns, limit=100))
        if not page.items:
            if quantity in mapping:
                notes.append(f"no live series of metric {metric!r} in the span")
            continue
        mine = [s for s in page.items if s.service == service]
        chosen = mine[0] if mine else page.items[0] if page.total == 1 else None
        if chosen is None:
            notes.append(
                f"{page.total} live series of {metric!r} and none labelled service={service!r}"
            )
            continue
        times, values = _downsample(
            [(t - start_ns) / NS for t, _ in chosen.points], [v for _, v in chosen.points]
        )
        live[LIVE_PREFIX + quantity] = {
            "unit": sim["unit"],
            "t": times,
            "values": values,
            "metric": metric,
            "labels": chosen.labels,
        }
    return live, notes


def _alert_name(doc: dict[str, Any], mode_id: str) -> str:
    mode = doc.get("mode")
    return str(mode.get("name") or mode_id) if isinstance(mode, dict) else mode_id


MAX_SPAN_S = 1e10  # ~317 years: longer than any time the store holds


def playback(
    runtime: Runtime,
    simulation_id: str,
    service: str | None,
    start: datetime | None,
    *,
    series: SeriesStore | None = None,
    mapping: MetricMapping | None = None,
) -> dict[str, Any]:
    run = runtime.pipeline.store.get_simulation(simulation_id)
    chosen = service or run.service or ""
    sim_series, sim_events, length_s = simulated_side(run)
    first_ns = runtime.windows.first_start_ns(chosen) if chosen else None
    start_ns = datetime_to_ns(start) if start else first_ns
    notes = []
    if not chosen:
        notes.append("the simulation names no service: pass ?service= to compare with one")
    elif first_ns is None:
        notes.append(f"no observed log windows for service {chosen!r}")
    if start_ns is None:
        start_ns = datetime_to_ns(run.started_at)
    # A run's own times may reach 1e308 s (or overflow to inf): the span is capped at
    # MAX_SPAN_S and ends, at the latest, where int64 nanoseconds do.
    length_s = min(max(length_s, 1.0), MAX_SPAN_S)
    end_ns = min(start_ns + int(length_s * NS), MAX_NS)
    observed, anomalies, alerts = ({}, [], []) if not chosen else observed_side(
        runtime, chosen, start_ns, end_ns
    )  # fmt: skip
    if chosen and first_ns is not None and not observed:
        notes.append("no observed windows in the simulated span after the chosen start")
    if chosen and series is not None:
        live, live_notes = live_side(series, sim_series, chosen, mapping or {}, start_ns, end_ns)
        observed |= live
        notes += live_notes
    return {
        "simulation_id": run.simulation_id,
        "model": run.model,
        "service": chosen or None,
        "parameters": run.parameters,
        "simulated_started_at": rfc3339_ns(datetime_to_ns(run.started_at)),
        "start": rfc3339_ns(start_ns),
        "start_ns": start_ns,
        "first_observed": rfc3339_ns(first_ns) if first_ns is not None else None,
        "duration_s": length_s,
        "simulated": sim_series,
        "observed": observed,
        "markers": sim_events + anomalies + alerts,
        "panels": _panels(sim_series, observed),
        "notes": notes,
    }


def _panels(simulated: dict[str, Any], observed: dict[str, Any]) -> list[dict[str, Any]]:
    """The comparisons both sides (or at least one) can fill, with what each side has."""
    panels = []
    for title, left, seen, right in PANELS:
        have = {
            "title": title,
            "simulated": [n for n in left if n in simulated],
            "observed": [n for n in seen if n in observed]
            + [LIVE_PREFIX + n for n in left + right if LIVE_PREFIX + n in observed],
            "simulated_right": [n for n in right if n in simulated],
        }
        if have["simulated"] or have["observed"] or have["simulated_right"]:
            panels.append(have)
    return panels


Start = Annotated[
    QueryTime,
    Query(
        description="RFC 3339 or epoch s/ms: the observed time the simulation's t=0 is aligned to"
    ),
]


@router.get("/simulations/{simulation_id:path}/playback", dependencies=[CanRead])
async def get_playback(
    simulation_id: str,
    request: Request,
    service: Annotated[str | None, Query(max_length=256)] = None,
    start: Start = None,
    metrics: Annotated[
        str | None,
        Query(
            max_length=2000,
            pattern=METRICS_PATTERN,
            description="quantity=metric pairs, comma-separated: the live metric of a simulated "
            "quantity (default: the metric of the quantity's own name)",
        ),
    ] = None,
) -> dict[str, Any]:
    """A simulation and the observed series of the same service, aligned on one time axis."""
    runtime: Runtime = request.app.state.runtime
    mapping = parse_mapping(metrics)
    return await run_in_threadpool(
        lambda: playback(
            runtime, simulation_id, service, start, series=series_store(request), mapping=mapping
        )
    )
