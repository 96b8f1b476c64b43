from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from premortem.domain import SimulationRun
from premortem.errors import ConfigError
from premortem.sim import DEFAULT_STARTED_AT, MODELS, FaultSpec, resolve_params, run_model

REQUIRED_SERIES = {
    "worker_utilisation",
    "pool_utilisation",
    "queue_length",
    "pool_wait_s",
    "latency_p50_s",
    "latency_p99_s",
    "error_rate",
    "drop_rate",
    "throughput",
}


def values(run: SimulationRun, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
    series = run.series_named(name)
    assert series is not None, name
    return np.array([np.nan if v is None else v for v in series.values[start:stop]], dtype=float)


def event_types(run: SimulationRun) -> set[str]:
    return {event.type for event in run.events}


def test_same_seed_same_run_and_another_seed_another() -> None:
    params = {"request_rate": 150, "burstiness": 4, "diurnal_amplitude": 0.3}
    first = run_model("service", params, seed=7, duration_s=30)
    again = run_model("service", params, seed=7, duration_s=30)
    other = run_model("service", params, seed=8, duration_s=30)
    assert first.model_dump() == again.model_dump()
    assert first.series != other.series
    assert first.simulation_id == again.simulation_id != other.simulation_id


def test_run_is_a_builtin_simulation_run_with_the_documented_series() -> None:
    run = run_model("service", {}, duration_s=20)
    assert {s.name for s in run.series} >= REQUIRED_SERIES
    assert all(s.timestamps == [float(k) for k in range(20)] for s in run.series)
    assert run.source == "builtin" and run.model == "service" and run.seed == 0
    assert run.started_at == DEFAULT_STARTED_AT
    assert run.parameters == resolve_params("service", {})
    # A healthy default service: busy but fine.
    assert 0.2 < values(run, "pool_utilisation").mean() < 0.8
    assert values(run, "error_rate").max() == 0
    assert values(run, "throughput").mean() == pytest.approx(100, rel=0.15)


def test_started_at_is_a_parameter_not_the_wall_clock() -> None:
    start = datetime(2025, 3, 1, 12, tzinfo=UTC)
    assert run_model("mmc", {}, duration_s=2, started_at=start).started_at == start


def test_progress_is_reported_up_to_one() -> None:
    seen: list[float] = []
    run_model("service", {}, duration_s=10, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 10


def test_unknown_parameter_is_named() -> None:
    with pytest.raises(ConfigError, match="pool_sise"):
        run_model("service", {"pool_sise": 3})
    with pytest.raises(ConfigError, match="pool_size"):
        run_model("mmc", {"pool_size": 3})  # M/M/c has no pool


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"workers": "many"}, "workers"),
        ({"workers": 2.5}, "workers"),
        ({"request_rate": -1}, "request_rate"),
        ({"diurnal_amplitude": 1.5}, "diurnal_amplitude"),
        ({"workers": "inf"}, "workers"),
    ],
)
def test_bad_values_are_named(params: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        run_model("service", params)  # type: ignore[arg-type]


def test_a_negative_seed_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="seed"):
        run_model("mmc", {}, seed=-1)


def test_strings_are_coerced_and_inf_allowed_where_documented() -> None:
    resolved = resolve_params("service", {"workers": "8", "timeout_s": "inf"})
    assert resolved["workers"] == 8 and resolved["timeout_s"] == float("inf")
    with pytest.raises(ConfigError, match="unknown model"):
        run_model("nope", {})


def test_every_model_documents_its_parameters() -> None:
    for spec in MODELS.values():
        assert spec.params and all(p.description for p in spec.params)
        run_model(spec.name, {}, duration_s=2)


def test_connection_leak_exhausts_the_pool() -> None:
    leak = FaultSpec(type="connection_leak", start_s=10, value=0.02)
    healthy = run_model("service", {}, duration_s=60, seed=2)
    leaking = run_model("service", {}, duration_s=60, seed=2, faults=[leak])
    assert values(leaking, "pool_utilisation", 0, 10).tolist() == pytest.approx(
        values(healthy, "pool_utilisation", 0, 10).tolist()
    )
    assert values(leaking, "pool_utilisation", 50).mean() > 0.99
    assert values(leaking, "error_rate", 50).mean() > 0.5
    assert {"fault_started", "pool_exhausted", "timeout_storm"} <= event_types(leaking)
    exhausted = next(e for e in leaking.events if e.type == "pool_exhausted")
    assert exhausted.time > 10 and exhausted.attributes["leaked_connections"] >= 10


def test_latency_fault_raises_latency_only_while_active() -> None:
    fault = FaultSpec(type="latency", start_s=20, duration_s=10, value=0.05)
    run = run_model("service", {}, duration_s=40, faults=[fault])
    p50 = values(run, "latency_p50_s")
    assert p50[21:30].mean() > p50[5:20].mean() + 0.04
    assert p50[32:].mean() < p50[5:20].mean() + 0.02
    started, ended = (e for e in run.events if e.type.startswith("fault_"))
    assert (started.type, started.time, ended.type, ended.time) == (
        "fault_started", 20.0, "fault_ended", 30.0,
    )  # fmt: skip
    assert started.attributes == {"fault": "latency", "value": 0.05, "duration_s": 10.0}


def test_process_kill_and_cpu_hog_and_load_spike_change_the_series() -> None:
    base = {"pool_size": 0, "workers": 4, "service_time_s": 0.02, "request_rate": 100}
    quiet = run_model("service", base, duration_s=40)
    for fault in (
        FaultSpec(type="process_kill", start_s=10, duration_s=20, value=2),
        FaultSpec(type="cpu_hog", start_s=10, duration_s=20, value=3),
        FaultSpec(type="load_spike", start_s=10, duration_s=20, value=2.5),
    ):
        hit = run_model("service", base, duration_s=40, faults=[fault])
        assert values(hit, "worker_utilisation", 12, 30).mean() > 0.95, fault.type
        assert values(quiet, "worker_utilisation", 12, 30).mean() < 0.6
        assert values(hit, "queue_length", 12, 30).mean() > 10 * (
            values(quiet, "queue_length", 12, 30).mean() + 0.1
        ), fault.type


def test_overload_fills_the_queue_drops_and_retries_amplify() -> None:
    run = run_model("service", {"request_rate": 400, "pool_size": 5}, duration_s=30)
    assert {"queue_overflow", "pool_exhausted", "timeout_storm"} <= event_types(run)
    assert values(run, "arrival_rate", 10).mean() > 2 * 400  # retries on top of new requests
    assert values(run, "drop_rate", 10).mean() > 0.5
    overflow = next(e for e in run.events if e.type == "queue_overflow")
    assert overflow.attributes["queue_capacity"] == 100 and overflow.attributes["dropped"] > 0


def test_fault_spec_validates_and_accepts_aliases() -> None:
    assert FaultSpec.model_validate({"type": "network_latency"}).type == "latency"
    assert FaultSpec(type="load_spike").effective_value == 3.0
    with pytest.raises(ValueError, match="probability"):
        FaultSpec(type="connection_leak", value=2)


def test_run_round_trips_through_json() -> None:
    run = run_model(
        "service", {"timeout_s": "inf"}, duration_s=5, faults=[FaultSpec(type="cpu_hog")]
    )
    again = SimulationRun.model_validate_json(run.model_dump_json())
    assert again == run
    assert run.parameters["timeout_s"] == "inf"
