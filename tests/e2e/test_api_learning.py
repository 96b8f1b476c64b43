"""Issue 4 through the API: the seed example and its logs become a failure mode; edits survive."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from premortem.cli import app as cli
from premortem.examples import seed_example_bytes, seed_logs_bytes

pytestmark = pytest.mark.e2e


def post_seed(client: TestClient) -> None:
    response = client.post(
        "/api/v1/test-runs",
        content=seed_example_bytes(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 201, response.text
    lines = seed_logs_bytes().splitlines()
    for start in range(0, len(lines), 1000):
        body = b"\n".join(lines[start : start + 1000])
        response = client.post(
            "/api/v1/logs", content=body, headers={"content-type": "application/x-ndjson"}
        )
        assert response.status_code == 200, response.text


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'learn.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


def test_seed_example_becomes_a_failure_mode_and_edits_survive_training(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from premortem.config import Settings
    from premortem.service.app import create_app

    with TestClient(create_app(Settings(database_url=database_url))) as client:
        _learn_and_edit(client, database_url, monkeypatch)


def _learn_and_edit(client: TestClient, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    post_seed(client)
    trained = client.post("/api/v1/train")
    assert trained.status_code == 200, trained.text
    assert trained.json()["modes"] >= 1

    modes = client.get("/api/v1/failure-modes").json()["items"]
    learned = [m for m in modes if m["source"] == "learned"]
    assert learned, modes
    mode = learned[0]
    assert mode["triggers"], "a learned mode names its triggers"
    assert {t["kind"] for t in mode["triggers"]} <= {
        "log_pattern",
        "event_sequence",
        "fault_condition",
        "load_condition",
        "simulation_condition",
    }
    assert all("precision" in t and "support" in t for t in mode["triggers"])
    assert mode["mitigations"] and mode["mitigations"][0]["action"]
    assert "chaos-test-001" in mode["evidence"]["test_runs"]

    edited = client.patch(
        f"/api/v1/failure-modes/{mode['id']}",
        json={
            "name": "Checkout DB pool exhaustion (reviewed)",
            "mitigations": [*mode["mitigations"], {"action": "page the DBA on call"}],
        },
    )
    assert edited.status_code == 200, edited.text

    monkeypatch.setenv("PREMORTEM_DATABASE_URL", database_url)
    from premortem.config import load_settings

    load_settings.cache_clear()
    result = CliRunner().invoke(cli, ["train"])
    load_settings.cache_clear()
    assert result.exit_code == 0, result.output

    after = client.get(f"/api/v1/failure-modes/{mode['id']}").json()
    assert after["name"] == "Checkout DB pool exhaustion (reviewed)"
    assert "page the DBA on call" in [m["action"] for m in after["mitigations"]]
    assert after["triggers"]
    assert client.get("/api/v1/models").json()["total"] == 2
    total = client.get("/api/v1/failure-modes").json()["total"]
    assert total == len(modes), "retraining must not duplicate modes"

    # A training that holds every run out (`--until` before them all) has nothing to learn
    # from: it says so in one line, and the model in use and its modes stay as they were.
    load_settings.cache_clear()
    held_out = CliRunner().invoke(cli, ["train", "--until", "2000-01-01T00:00:00"])
    load_settings.cache_clear()
    assert held_out.exit_code == 1  # `premortem` prints it as one line (cli.main)
    assert "none of the 1 stored test runs started before 2000-01-01" in str(held_out.exception)
    assert client.get("/api/v1/models").json()["total"] == 2
    assert client.get("/api/v1/failure-modes").json()["total"] == total


def test_training_with_nothing_to_learn_from_keeps_the_model_in_use(database_url: str) -> None:
    """A trial's first runs were refused (a 400 its script did not stop on) and `train` then
    answered 200 with an empty model, which served: now it is a 409 and nothing changes."""
    from premortem.config import Settings
    from premortem.service.app import create_app

    with TestClient(create_app(Settings(database_url=database_url))) as client:
        answer = client.post("/api/v1/train")
        assert answer.status_code == 409
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "no test run or simulation is stored" in answer.json()["detail"]
        assert client.get("/api/v1/models").json()["total"] == 0

        post_seed(client)
        assert client.post("/api/v1/train").status_code == 200
        before = client.get("/api/v1/models/latest").json()["version"]
        assert client.post("/api/v1/train?until=2000-01-01T00:00:00Z").status_code == 409
        assert client.get("/api/v1/models/latest").json()["version"] == before


def test_a_trained_mode_is_predicted_and_alerted_on_new_logs(
    database_url: str,
) -> None:
    """The same conditions a day later: the online predictor warns, alerting fires."""
    from premortem.config import Settings
    from premortem.service.app import create_app

    with TestClient(create_app(Settings(database_url=database_url))) as client:
        post_seed(client)
        assert client.post("/api/v1/train").status_code == 200
        lines = [json.loads(line) for line in seed_logs_bytes().splitlines()]
        for line in lines:
            when = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
            line["timestamp"] = (when + timedelta(days=1)).isoformat()
        for start in range(0, len(lines), 500):
            assert client.post("/api/v1/logs", json=lines[start : start + 500]).status_code == 200
        client.app.state.pipeline.drain()  # type: ignore[attr-defined]
        predictions = client.get("/api/v1/predictions").json()
        assert predictions["total"] > 0
        first = predictions["items"][-1]
        assert first["probability"] >= 0.5 and first["mode_id"]
        onset = datetime(2023, 11, 16, 14, 34, 10, tzinfo=UTC).timestamp() * 1e9
        assert first["time_ns"] < onset, "the prediction comes before the failure"
        alerts = client.get("/api/v1/alerts").json()
        assert alerts["total"] == 1 and alerts["items"][0]["mode_id"] == first["mode_id"]


def test_train_needs_admin(client_factory: Callable[..., TestClient]) -> None:
    with client_factory(tokens="rd=read") as client:
        response = client.post("/api/v1/train", headers={"authorization": "Bearer rd"})
        assert response.status_code == 403


def test_prediction_does_not_change_the_template_ids_of_live_records(database_url: str) -> None:
    """The predictor mines with the model's own miner; stored and analysed records keep the
    catalog's template ids."""
    from premortem.config import Settings
    from premortem.service.app import create_app

    with TestClient(create_app(Settings(database_url=database_url))) as client:
        post_seed(client)
        assert client.post("/api/v1/train").status_code == 200
        line = {
            "timestamp": "2023-11-16T14:00:00Z",
            "service": "checkout",
            "body": "connection pool wait 900ms active=20 idle=0",
        }
        client.post("/api/v1/logs", json=[line])
        client.app.state.pipeline.drain()  # type: ignore[attr-defined]
        stored = client.get("/api/v1/logs", params={"q": "900ms"}).json()["items"][0]
        template = client.get(f"/api/v1/templates/{stored['template_id']}").json()
        assert "connection pool wait" in template["template"]


@pytest.mark.parametrize("edited", [False, True], ids=["learned", "with-manual-advice"])
def test_a_mode_retraining_no_longer_learns_is_retired(
    client_factory: Callable[..., TestClient], edited: bool
) -> None:
    """A trial on an unseen system posted its passing runs with outcome texts that read as
    failures, corrected them, retrained: the mode learned from the passing runs stayed in the
    database for good. Retraining on the whole history now retires a learned mode it no longer
    finds — unless someone wrote into it."""
    with client_factory() as client:
        post_seed(client)
        assert client.post("/api/v1/train").json()["modes"] >= 1
        (mode,) = [
            m
            for m in client.get("/api/v1/failure-modes").json()["items"]
            if m["source"] == "learned"
        ]
        if edited:
            advice = [*mode["mitigations"], {"action": "page the DBA on call"}]
            patched = client.patch(
                f"/api/v1/failure-modes/{mode['id']}", json={"mitigations": advice}
            )
            assert patched.status_code == 200, patched.text
        # Another failure, so that the retraining still learns something: one that finds no
        # failure at all retires nothing.
        other = json.loads(seed_example_bytes()) | {
            "test_id": "chaos-test-002",
            "timestamp": "2023-11-16T14:30:00Z",
            "failure_time": "2023-11-16T14:34:10Z",
            "failure_details": "disk full on the database volume",
        }
        assert client.post("/api/v1/test-runs", json=other).status_code == 201
        corrected = json.loads(seed_example_bytes())
        corrected["actual_outcome"] = corrected["expected_outcome"]  # it passed after all
        corrected.pop("failure_details", None)
        corrected.pop("failure_time", None)
        posted = client.post("/api/v1/test-runs", json=corrected)
        assert posted.json()["outcomes"] == {corrected["test_id"]: "pass"}

        trained = client.post("/api/v1/train").json()
        assert trained["retired"] == (0 if edited else 1)
        found = client.get(f"/api/v1/failure-modes/{mode['id']}")
        assert found.status_code == (200 if edited else 404)
