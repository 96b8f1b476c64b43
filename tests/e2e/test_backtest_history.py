"""`premortem backtest history`: train on the runs before a range, replay the range, score it."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from premortem.cli import app as cli
from premortem.config import Settings, load_settings
from premortem.service.app import create_app

pytestmark = pytest.mark.e2e
START = datetime(2024, 3, 1, tzinfo=UTC)


def _stamp(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def post_history(client: TestClient, runs: int = 10, first: int = 0) -> None:
    rng = random.Random(5 + first)
    for n in range(first, first + runs):
        begin = START + timedelta(hours=n)
        failing = n % 2 == 0
        failure = begin + timedelta(seconds=150)
        doc = {
            "test_id": f"run-{n}",
            "timestamp": _stamp(begin),
            "service": "orders",
            "injected_faults": [
                {"type": "connection_leak", "start": _stamp(begin + timedelta(seconds=30))}
            ]
            if failing
            else [],
            "expected_outcome": "orders succeed",
            "actual_outcome": "orders fail with 503" if failing else "orders succeed",
            "failure_details": "connection pool exhausted" if failing else None,
            "failure_time": _stamp(failure) if failing else None,
        }
        assert (
            client.post(
                "/api/v1/test-runs", json={k: v for k, v in doc.items() if v is not None}
            ).status_code
            == 201
        )
        lines = []
        for i in range(300):
            t = begin + timedelta(seconds=i * 0.6)
            lines.append(
                {
                    "timestamp": _stamp(t),
                    "service": "orders",
                    "severity_text": "INFO",
                    "body": f"order {rng.randint(1, 10**6)} stored in {rng.randint(3, 30)}ms",
                }
            )
            if failing and begin + timedelta(seconds=60) < t < failure and i % 5 == 0:
                lines.append(
                    {
                        "timestamp": _stamp(t),
                        "service": "orders",
                        "severity_text": "WARN",
                        "body": f"connection pool low: {rng.randint(0, 2)} idle of 10, waiters={rng.randint(3, 40)}",
                    }
                )
            if failing and t >= failure:
                lines.append(
                    {
                        "timestamp": _stamp(t),
                        "service": "orders",
                        "severity_text": "ERROR",
                        "body": "connection pool exhausted: timed out after 5000ms",
                    }
                )
        assert client.post("/api/v1/logs", json=lines).status_code == 200


def test_backtest_over_stored_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    with TestClient(create_app(Settings(database_url=url))) as client:
        post_history(client)
    monkeypatch.setenv("PREMORTEM_DATABASE_URL", url)
    load_settings.cache_clear()
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli, ["backtest", "history", "--since", "2024-03-01T05:00:00Z", "--json", str(out)]
    )
    load_settings.cache_clear()
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["trained_on_runs"] == 5
    model, baseline = report["model"], report["baseline"]
    assert model["n_test_runs"] == 5
    assert model["recall"] == 1.0 and model["precision"] == 1.0
    assert model["median_lead_s"] >= 10
    assert model["false_alarms_per_day"] == 0
    assert baseline["recall"] is not None
    assert "alert precision" in result.output


def test_backtest_needs_history_before_the_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with TestClient(create_app(Settings(database_url=url))) as client:
        post_history(client, runs=2)
    monkeypatch.setenv("PREMORTEM_DATABASE_URL", url)
    load_settings.cache_clear()
    result = CliRunner().invoke(cli, ["backtest", "history", "--since", "2020-01-01T00:00:00Z"])
    load_settings.cache_clear()
    assert result.exit_code != 0


def test_live_scores_begin_where_the_first_model_begins(tmp_path: Path) -> None:
    """The Backtest page scores what premortem forecast: the runs the model was trained on came
    before it and are not counted as failures it missed."""
    url = f"sqlite:///{tmp_path / 'live.db'}"
    with TestClient(create_app(Settings(database_url=url))) as client:
        post_history(client, runs=6)
        trained = client.post("/api/v1/train")
        assert trained.status_code == 200, trained.text
        post_history(client, runs=4, first=6)
        client.app.state.runtime.pipeline.drain()  # type: ignore[attr-defined]
        answer = client.get(
            "/api/v1/backtest",
            params={"since": _stamp(START), "until": _stamp(START + timedelta(hours=12))},
        )
    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert page["model"]["n_test_runs"] == 4  # runs 6–9; runs 0–5 trained the model
    assert page["model"]["recall"] == 1.0
    assert page["model"]["counts"]["failed_runs"] == 2
    assert page["since"] == "2024-03-01T05:00:00.000001Z"  # just after run 5 started
    assert any("first model" in note for note in page["notes"])


def _history_from_hour_6(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, *, since: bool = True
) -> dict[str, Any]:
    """`premortem backtest history --since <run 6's start> --json` over the database at `url`
    (without `--since` when `since` is false)."""
    monkeypatch.setenv("PREMORTEM_DATABASE_URL", url)
    load_settings.cache_clear()
    out = tmp_path / "report.json"
    ranged = ["--since", _stamp(START + timedelta(hours=6))] if since else []
    result = CliRunner().invoke(cli, ["backtest", "history", *ranged, "--json", str(out)])
    load_settings.cache_clear()
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def test_the_default_range_ends_where_the_last_run_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --until the range took the last run's start for its end: what failed and was
    said live during that run was left out of the live scores (a trial saw 5 of 6 failures)."""
    url = f"sqlite:///{tmp_path / 'last.db'}"
    with TestClient(create_app(Settings(database_url=url))) as client:
        post_history(client, runs=6)
        assert client.post("/api/v1/train").status_code == 200
        post_history(client, runs=5, first=6)  # runs 6, 8 and the last, 10, fail
        client.app.state.runtime.pipeline.drain()  # type: ignore[attr-defined]
    report = _history_from_hour_6(tmp_path, monkeypatch, url)
    assert report["until"] > _stamp(START + timedelta(hours=10, seconds=150))
    assert report["model"]["counts"]["failed_runs"] == 3
    assert report["live"]["model"]["failures"] == 3, report["live"]


@pytest.mark.parametrize("since", [True, False], ids=["since-run-6", "default-range"])
def test_the_replay_scores_what_the_live_stream_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, since: bool
) -> None:
    """The replayed range runs as one live stream and is laid on the same windows as the live
    scores: with the model the server used live (trained on the same runs), both sections of
    the report are the same numbers. A trial saw precision 0.857 replayed and 0.667 live when
    each run was replayed on its own, after a reset the live stream never has."""
    url = f"sqlite:///{tmp_path / 'same.db'}"
    with TestClient(create_app(Settings(database_url=url))) as client:
        post_history(client, runs=6)
        assert client.post("/api/v1/train").status_code == 200
        post_history(client, runs=3, first=6)
        # Between runs, outside every run's window: the pool runs low and nothing fails. Live,
        # that is a false alarm; a replay of the runs alone never saw it.
        quiet = START + timedelta(hours=8, minutes=30)
        lines = [
            {
                "timestamp": _stamp(quiet + timedelta(seconds=3 * i)),
                "service": "orders",
                "severity_text": "WARN",
                "body": f"connection pool low: 0 idle of 10, waiters={20 + i}",
            }
            for i in range(20)
        ]
        assert client.post("/api/v1/logs", json=lines).status_code == 200
        post_history(client, runs=2, first=9)
        client.app.state.runtime.pipeline.drain()  # type: ignore[attr-defined]
    # Without --since the range begins where the model in use went live (the end of run 5, the
    # last it trained on), not at the median run: a trial's default replayed a model trained on
    # fewer runs than the live one (precision 0.43 against 1.00).
    report = _history_from_hour_6(tmp_path, monkeypatch, url, since=since)
    went_live = START + (timedelta(hours=6) if since else timedelta(hours=5, minutes=15))
    assert report["since"] == _stamp(went_live).replace("Z", ".000000Z")  # run 5's window end
    replayed, live = report["model"], report["live"]["model"]
    assert replayed["counts"]["wrong_alerts"] == 1, replayed
    assert replayed["counts"]["right_alerts"] == 3, replayed
    assert {k: live[k] for k in replayed} == replayed
    assert {k: report["live"]["baseline"][k] for k in replayed} == report["baseline"]
