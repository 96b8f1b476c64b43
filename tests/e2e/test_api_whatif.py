"""Issue 7 through the API: What-If answers (simulation-only and with the trained network), their
errors, and Simulation Playback aligned with replayed logs of the same service."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from fastapi.testclient import TestClient

from load_tests_seed import post_load_tests
from premortem.domain import datetime_to_ns
from premortem.examples import seed_example_bytes, seed_logs_bytes
from premortem.sim import FaultSpec, run_model

pytestmark = pytest.mark.e2e

LOADS = [20, 40, 60, 80, 100, 120, 140, 160, 180, 200]


def test_a_pool_too_small_for_the_planned_load_is_named_with_rising_probability(
    client: TestClient,
) -> None:
    """On a simulated service whose pool is too small for a planned load, What-If names pool
    exhaustion with a probability that rises with the load, and its mitigation."""
    body = {
        "service": "checkout",
        "params": {"pool_size": 4, "workers": 16},
        "change": "request_rate",
        "values": LOADS,
        "seed": 3,
    }
    response = client.post("/api/v1/what-if", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["inference"] == "simulation-only"
    assert answer["inference_note"] == "no trained model yet"
    assert [p["value"] for p in answer["points"]] == LOADS
    pool = [
        next(m for m in p["modes"] if m["mode"] == "pool_exhaustion")["probability"]
        for p in answer["points"]
    ]
    assert pool[0] < 0.1 and pool[-1] > 0.9
    assert all(later >= earlier - 0.03 for earlier, later in pairwise(pool))
    appeared = next(a for a in answer["appearances"] if a["mode"] == "pool_exhaustion")
    assert appeared["name"] == "Connection pool exhaustion"
    assert appeared["first_value"] in LOADS[1:-1]  # fine at low load, exhausted before the top
    assert pool[appeared["first_index"]] >= 0.5 > pool[appeared["first_index"] - 1]
    assert "pool size" in appeared["mitigation"]
    at_top = next(m for m in answer["points"][-1]["modes"] if m["mode"] == "pool_exhaustion")
    assert at_top["first_time_s"] is not None and at_top["mitigation"] == appeared["mitigation"]
    # A pool big enough for the same load: never exhausted.
    body["params"] = {"pool_size": 40, "workers": 16}
    roomy = client.post("/api/v1/what-if", json=body).json()
    roomy_pool = next(a for a in roomy["appearances"] if a["mode"] == "pool_exhaustion")
    assert roomy_pool["first_value"] is None


def test_a_range_grid_of_a_whole_number_parameter(client: TestClient) -> None:
    body = {"params": {"request_rate": 150}, "change": "pool_size", "from": 2, "to": 12, "steps": 6}
    answer = client.post("/api/v1/what-if", json=body).json()
    assert [p["value"] for p in answer["points"]] == [2, 4, 6, 8, 10, 12]
    pool = [p["modes"][0]["probability"] for p in answer["points"]]
    assert pool[0] > 0.8 and pool[-1] < 0.2  # more connections, less exhaustion


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ({"change": "request_rate", "values": [1], "params": {"pool_sise": 3}}, 400, "pool_sise"),
        ({"change": "request_rate", "values": [1], "params": {"workers": "many"}}, 400, "workers"),
        ({"change": "request_rate", "values": [-5]}, 400, "request_rate"),
        ({"change": "colour", "values": [1]}, 400, "colour"),
        ({"change": "request_rate", "values": [1], "model": "nope"}, 400, "nope"),
        ({"change": "request_rate", "values": [1, 2], "duration_s": 3600}, 400, "duration_s"),
        ({"change": "request_rate"}, 422, "from, to and steps"),
        ({"change": "request_rate", "values": [1], "steps": 3}, 422, "not both"),
        ({"change": "request_rate", "values": [1], "faults": [{"type": "meteor"}]}, 422, "type"),
        ({"change": "request_rate", "values": [1], "seed": -1}, 422, "seed"),
        ({"change": "request_rate", "values": [1], "surprise": 1}, 422, "surprise"),
    ],
)
def test_bad_requests_are_problems_naming_the_parameter(
    client: TestClient, body: dict[str, object], status: int, names: str
) -> None:
    response = client.post("/api/v1/what-if", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert names in response.text


def _post_seed_and_train(client: TestClient) -> None:
    headers = {"content-type": "application/json"}
    assert client.post(
        "/api/v1/test-runs", content=seed_example_bytes(), headers=headers
    ).is_success
    lines = seed_logs_bytes().splitlines()
    for start in range(0, len(lines), 1000):
        body = b"\n".join(lines[start : start + 1000])
        response = client.post(
            "/api/v1/logs", content=body, headers={"content-type": "application/x-ndjson"}
        )
        assert response.status_code == 200, response.text
    client.app.state.pipeline.drain()  # type: ignore[attr-defined]
    assert client.post("/api/v1/train").status_code == 200


def test_with_a_trained_network_that_knows_the_injected_fault(client: TestClient) -> None:
    _post_seed_and_train(client)
    body = {
        "service": "checkout",
        "params": {"pool_size": 4},
        "change": "request_rate",
        "values": [20, 120],
        "duration_s": 20,
    }
    plain = client.post("/api/v1/what-if", json=body).json()
    assert plain["inference"] == "simulation-only"
    assert "no variable a simulation can give evidence for" in plain["inference_note"]
    body["faults"] = [{"type": "cpu_hog", "start_s": 5, "value": 2}]  # the seed run's fault
    answer = client.post("/api/v1/what-if", json=body).json()
    assert answer["inference"] == "bayesian-network"
    assert answer["evidence_variables"] == ["fault"]
    assert answer["model_version"] >= 1
    learned = [m for m in answer["points"][0]["modes"] if m["mode"].startswith("fm-")]
    assert learned and "connection pool exhaustion" in learned[0]["name"].lower()
    assert learned[0]["first_time_s"] == 5.0  # the fault is the evidence; it starts at 5 s
    assert learned[0]["mitigation"]


# --------------------------------------------------------------------------- playback

OBSERVED_START = datetime(2024, 6, 3, 10, 0, tzinfo=UTC)


def _replay_logs(client: TestClient, *, service: str, seconds: int) -> None:
    """Two lines a second, errors from the middle on, in time order like a replay."""
    records = []
    for second in range(seconds):
        at = datetime_to_ns(OBSERVED_START + timedelta(seconds=second))
        failing = second >= seconds // 2
        for k in range(2):
            records.append(
                {
                    "timestamp": at + k * 400_000_000,
                    "service": service,
                    "severity_number": 17 if failing and k else 9,
                    "body": f"pool wait {second} ms"
                    if failing and k
                    else f"GET /cart/{second} 200",
                }
            )
    response = client.post("/api/v1/logs", json=records)
    assert response.status_code == 200, response.text
    client.app.state.pipeline.drain()  # type: ignore[attr-defined]


def _post_simulation(client: TestClient, *, service: str) -> str:
    run = run_model(
        "service",
        {"request_rate": 60, "pool_size": 4},
        seed=2,
        duration_s=120,
        faults=[FaultSpec(type="latency", start_s=40, value=0.05)],
    ).model_copy(update={"service": service})
    response = client.post("/api/v1/simulations", content=run.model_dump_json())
    assert response.status_code == 201, response.text
    return run.simulation_id


def test_playback_aligns_a_simulation_with_the_observed_series(client: TestClient) -> None:
    _replay_logs(client, service="checkout", seconds=200)
    sim_id = _post_simulation(client, service="checkout")
    response = client.get(f"/api/v1/simulations/{sim_id}/playback")
    assert response.status_code == 200, response.text
    play = response.json()
    assert play["service"] == "checkout"
    assert play["start"].startswith("2024-06-03T10:00:00")
    assert play["first_observed"] == play["start"]
    assert play["duration_s"] == 120
    assert play["simulated"]["throughput"]["t"][:2] == [0.0, 1.0]
    observed = play["observed"]["log_rate"]
    assert observed["t"][0] == 0.0 and observed["values"][0] == pytest.approx(2.0)
    assert max(observed["t"]) < 120
    ratios = play["observed"]["error_ratio"]["values"]
    assert ratios[0] == 0 and max(ratios) == pytest.approx(0.5)
    kinds = {m["type"] for m in play["markers"] if m["source"] == "simulation"}
    assert {"fault_started", "pool_exhausted"} <= kinds
    titles = [p["title"] for p in play["panels"]]
    assert titles == ["Load", "Errors", "Utilisation and latency", "Queues"]
    assert play["panels"][1]["observed"] == ["error_ratio"]

    later = (OBSERVED_START + timedelta(seconds=100)).isoformat()
    shifted = client.get(f"/api/v1/simulations/{sim_id}/playback", params={"start": later}).json()
    assert shifted["start"].startswith("2024-06-03T10:01:40")
    assert min(shifted["observed"]["error_ratio"]["values"]) == pytest.approx(0.5)


def test_playback_draws_live_metrics_beside_the_simulated_quantity(client: TestClient) -> None:
    """A remote-written series of a simulated quantity's name (or mapped to it) is drawn on that
    quantity's panel, in its unit, on the same time axis."""
    from prom_write import write_body

    _replay_logs(client, service="checkout", seconds=60)
    sim_id = _post_simulation(client, service="checkout")
    start_ms = datetime_to_ns(OBSERVED_START) // 1_000_000
    usage = [(start_ms + 15_000 * k, 0.1 * k) for k in range(9)]
    body = write_body(
        [
            ({"__name__": "pool_utilisation", "service": "checkout"}, usage),
            ({"__name__": "pool_utilisation", "service": "billing"}, [(start_ms, 0.9)]),
            ({"__name__": "http_queue_depth", "job": "checkout"}, [(start_ms, 3.0)]),
        ]
    )
    written = client.post(
        "/api/v1/write", content=body, headers={"Content-Type": "application/x-protobuf"}
    )
    assert written.status_code == 204, written.text
    play = client.get(
        f"/api/v1/simulations/{sim_id}/playback",
        params={"metrics": "queue_length=http_queue_depth"},
    ).json()
    live = play["observed"]["live pool_utilisation"]
    assert live["unit"] == play["simulated"]["pool_utilisation"]["unit"] == "ratio"
    assert live["labels"] == {"service": "checkout"}  # not billing's
    assert live["t"] == [15.0 * k for k in range(8)]  # the 2-minute simulated span
    assert live["values"][:3] == pytest.approx([0.0, 0.1, 0.2])
    utilisation = next(p for p in play["panels"] if p["title"] == "Utilisation and latency")
    assert "live pool_utilisation" in utilisation["observed"]
    queues = next(p for p in play["panels"] if p["title"] == "Queues")
    assert queues["observed"] == ["live queue_length"]
    assert play["observed"]["live queue_length"]["metric"] == "http_queue_depth"
    for bad in ("nonsense", "a=", "=b", "a=b,", " =b"):
        answer = client.get(f"/api/v1/simulations/{sim_id}/playback", params={"metrics": bad})
        assert answer.status_code == 422, bad


def test_playback_of_an_unknown_simulation_or_service(client: TestClient) -> None:
    missing = client.get("/api/v1/simulations/nope/playback")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    sim_id = _post_simulation(client, service="ghost")
    play = client.get(f"/api/v1/simulations/{sim_id}/playback").json()
    assert play["observed"] == {} and play["simulated"]
    assert any("no observed log windows" in note for note in play["notes"])


def test_what_if_and_playback_need_the_read_scope(
    client_factory: Callable[..., TestClient],
) -> None:
    body = {"change": "request_rate", "values": [10], "duration_s": 5}
    with client_factory(tokens="ing=ingest,rd=read") as client:
        assert client.post("/api/v1/what-if", json=body).status_code == 401
        as_ingest = {"Authorization": "Bearer ing"}
        assert client.post("/api/v1/what-if", json=body, headers=as_ingest).status_code == 403
        as_reader = {"Authorization": "Bearer rd"}
        assert client.post("/api/v1/what-if", json=body, headers=as_reader).status_code == 200
        assert client.get("/api/v1/simulations/x/playback").status_code == 401
        missing = client.get("/api/v1/simulations/x/playback", headers=as_reader)
        assert missing.status_code == 404


# --------------------------------------------------------------------------- learned load


def _post_load_tests_and_train(client: TestClient) -> None:
    post_load_tests(client)
    client.app.state.runtime.pipeline.drain()  # type: ignore[attr-defined]
    assert client.post("/api/v1/train").status_code == 200


def test_a_learned_load_parameter_can_be_set_and_varied(client: TestClient) -> None:
    """A workload parameter of the user's own load tests (`concurrent_users`) is no parameter of
    the built-in model: What-If takes it as evidence for the load condition training learned."""
    _post_load_tests_and_train(client)
    body = {"service": "shop", "change": "concurrent_users", "values": [10, 100, 200],
            "duration_s": 10}  # fmt: skip
    answer = client.post("/api/v1/what-if", json=body)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["load_parameters"] == ["concurrent_users"]
    assert found["inference"] == "bayesian-network"
    assert found["evidence_variables"] == ["load:concurrent_users>=150"]

    def pool(point: dict[str, object]) -> float:
        modes = point["modes"]
        assert isinstance(modes, list)
        return next(m["probability"] for m in modes if m["mode"].startswith("fm-"))

    low, middle, high = (pool(p) for p in found["points"])
    assert low == middle < 0.1 < 0.5 < high  # the learned pool mode appears past 150 users
    appeared = next(a for a in found["appearances"] if a["mode"].startswith("fm-"))
    assert "connection pool exhaustion" in appeared["name"] and appeared["first_value"] == 200
    assert ".;" not in appeared["mitigation"]

    # set while a simulated parameter varies; an unknown name lists the learned ones too
    fixed = {
        **body,
        "change": "request_rate",
        "values": [20, 40],
        "params": {"concurrent_users": 200},
    }
    points = client.post("/api/v1/what-if", json=fixed).json()["points"]
    assert all(pool(p) > 0.5 for p in points)
    wrong = client.post("/api/v1/what-if", json={**body, "change": "users"})
    assert wrong.status_code == 400
    assert "learned load parameters of the trained model: concurrent_users" in wrong.text
