"""Issue 3 through the API: an OpenStack-shaped experiment replayed via HTTP shows its templates,
their series and anomalies after the fault; a restarted server keeps template ids."""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from premortem.commands.replay import replay_experiment
from premortem.learn.openstack_fi import discover

pytestmark = pytest.mark.e2e

START = datetime(2018, 7, 2, 16, 20, 0)  # local clock of the synthetic campaign (UTC+2)
ACTIVATION = START + timedelta(minutes=6)


def _line(t: datetime, level: str, logger: str, message: str) -> str:
    stamp = t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}"
    return f"{stamp} 1867 {level} {logger} [req-{random.Random(message).getrandbits(32):08x}] {message}"


def write_experiment(root: Path) -> Path:
    """A synthetic experiment in the dataset's shape (the real data is AGPL: not copied)."""
    rng = random.Random(3)
    test = root / "tests" / "Nova" / "Test_1"
    logs = test / "logs" / "round_1"
    (logs / "nova").mkdir(parents=True)
    (logs / "foreground_wl").mkdir()
    lines = []
    t = START
    while t < START + timedelta(minutes=9):
        t += timedelta(milliseconds=rng.randint(80, 160))
        lines.append(
            _line(
                t,
                "DEBUG",
                "nova.compute.resource_tracker",
                f"Total usable vcpus: {rng.randint(4, 8)}, total allocated vcpus: {rng.randint(0, 4)}",
            )
        )
        if rng.random() < 0.3:
            lines.append(
                _line(
                    t,
                    "INFO",
                    "nova.compute.manager",
                    f"Took {rng.random() * 3:.2f} seconds to build instance.",
                )
            )
        if t > ACTIVATION + timedelta(seconds=20):
            lines.append(
                _line(
                    t,
                    "ERROR",
                    "nova.compute.manager",
                    f"Instance failed to spawn: libvirtError: internal error {rng.randint(1, 9)}",
                )
            )
    (logs / "nova" / "nova-compute.log.gz").write_bytes(gzip.compress("\n".join(lines).encode()))
    (logs / "trigger_log").write_text(
        ACTIVATION.strftime("%Y-%m-%d %H:%M:%S.%f") + " [manager.pyc]: Injection activated!\n"
    )
    failure = ACTIVATION + timedelta(seconds=75)
    err = (
        failure.strftime("%Y-%m-%d %H:%M:%S.%f")
        + " INFO [sample_workload.sh]: Assertion results: FAILURE_INSTANCE_ACTIVE\n"
    )
    (logs / "foreground_wl" / "openstack_demo_workload-1.err.log.gz").write_bytes(
        gzip.compress(err.encode())
    )
    (logs / "foreground_wl" / "openstack_demo_workload-1.out.log.gz").write_bytes(
        gzip.compress(b"")
    )
    (test / "fip_info.data").write_text("fault_type: MISSING_PARAMETER\ncomponent: nova\n")
    (root / "subset_index.csv").write_text(
        "subsystem,test,category,tz_offset_h\nNova,Test_1,failure_delayed,2\n"
    )
    return test


def test_replayed_experiment_shows_templates_series_and_anomalies_after_the_fault(
    client: TestClient, tmp_path: Path
) -> None:
    test_dir = write_experiment(tmp_path / "data")
    experiment = next(e for e in discover(tmp_path / "data") if e.path == test_dir)
    summary = replay_experiment(client, experiment)
    assert "Nova/Test_1" in summary
    client.app.state.pipeline.drain()  # type: ignore[attr-defined]

    templates = client.get("/api/v1/templates", params={"service": "nova-compute"}).json()
    assert templates["total"] >= 3
    error_template = next(t for t in templates["items"] if "failed to spawn" in t["template"])
    detail = client.get(f"/api/v1/templates/{error_template['id']}").json()
    assert detail["samples"] and detail["parameters"]
    series = client.get(f"/api/v1/templates/{error_template['id']}/series").json()
    assert sum(p["count"] for p in series["points"]) > 0
    activation_utc = (ACTIVATION - timedelta(hours=2)).replace(tzinfo=UTC).isoformat()
    after = client.get("/api/v1/anomalies", params={"since": activation_utc, "limit": 1000}).json()
    assert after["total"] > 0
    assert any(a["template_id"] == error_template["id"] for a in after["items"])
    runs = client.get("/api/v1/test-runs").json()
    assert (
        runs["total"] == 1
        and runs["items"][0]["actual_outcome"] != runs["items"][0]["expected_outcome"]
    )


def test_template_ids_survive_a_restart(client_factory: Callable[..., TestClient]) -> None:
    lines = [{"service": "api", "body": f"GET /items/{i} 200 in {i % 50}ms"} for i in range(50)]
    lines += [{"service": "api", "body": f"db timeout after {i}ms"} for i in range(20)]
    with client_factory() as first:
        first.post("/api/v1/logs", json=lines)
        before = {t["template"]: t["id"] for t in first.get("/api/v1/templates").json()["items"]}
    assert len(before) >= 2
    with client_factory() as second:
        after = {t["template"]: t["id"] for t in second.get("/api/v1/templates").json()["items"]}
        assert after == before
        second.post("/api/v1/logs", json=[{"service": "api", "body": "db timeout after 999ms"}])
        newest = second.get("/api/v1/logs", params={"q": "999ms"}).json()["items"][0]
        assert newest["template_id"] == before[next(k for k in before if "timeout" in k)]
