"""Issue 12: one scorer behind the three entry points. On one fixture (OpenStack-shaped
experiments), the CLI OpenStack backtest, `premortem backtest history` over a store holding the
same runs, and `GET /api/v1/backtest` over what a server predicted live on the later half agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from premortem.cli import app as cli
from premortem.commands.replay import replay_experiment
from premortem.config import Settings, load_settings
from premortem.domain import datetime_to_ns, rfc3339_ns
from premortem.learn.openstack_backtest import split
from premortem.learn.openstack_fi import Experiment, discover
from premortem.service.app import create_app

pytestmark = pytest.mark.e2e
FIXTURE = Path(__file__).parents[1] / "fixtures" / "openstack_fi"
# What a right alert, a warned failure and a lead time are: the same numbers wherever scored.
AGREED = (
    "warned_10s_share",
    "precision",
    "recall",
    "fault_free_alerted_share",
    "harmless_alerted_share",
    "median_lead_s",
    "lead_times_s",
    "mode_accuracy",
    "n_test_runs",
    "brier",
    "ece",
    "reliability",
)
COUNTS = (
    "delayed_failures",
    "warned_10s",
    "right_alerts",
    "wrong_alerts",
    "fault_free_runs",
    "fault_free_alerted",
    "harmless_runs",
    "harmless_alerted",
    "failed_runs",
    "mode_right",
)


def _agreed(report: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: report[k] for k in AGREED},
        **{f"counts.{k}": report["counts"][k] for k in COUNTS},
    }


def _send(client: TestClient, experiments: list[Experiment], *, test_runs: bool) -> None:
    """Every round of these experiments, in time order, as a live system would send them."""
    rounds = sorted(
        (datetime_to_ns(run.timestamp), e.key, int(run.parameters["round_dir"][-1]), e)
        for e in experiments
        for run in e.runs
    )
    for _, _, round_no, experiment in rounds:
        replay_experiment(client, experiment, round_no=round_no, with_test_runs=test_runs)
    client.app.state.runtime.pipeline.drain()  # type: ignore[attr-defined]


def _cli_json(tmp_path: Path, name: str, *args: str) -> dict[str, Any]:
    out = tmp_path / name
    result = CliRunner().invoke(cli, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def test_the_three_entry_points_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    offline = _cli_json(tmp_path, "openstack.json", "backtest", "openstack-fi", str(FIXTURE))

    training, evaluated = split(discover(FIXTURE))
    later = sorted(run.timestamp for e in evaluated for run in e.runs)
    since = datetime_to_ns(later[0])
    until = max(
        datetime_to_ns(run.failure_time or run.timestamp) for e in evaluated for run in e.runs
    )
    until += 3600 * 1_000_000_000
    url = f"sqlite:///{tmp_path / 'one.db'}"
    with TestClient(create_app(Settings(database_url=url))) as client:
        _send(client, training, test_runs=True)
        assert client.post("/api/v1/train").status_code == 200
        # The later half goes out live: logs first, the runs' outcomes once they are known.
        _send(client, evaluated, test_runs=False)
        docs = [r.model_dump(mode="json", exclude_none=True) for e in evaluated for r in e.runs]
        assert client.post("/api/v1/test-runs", json=docs).status_code in (200, 201)
        page = client.get(
            "/api/v1/backtest", params={"since": rfc3339_ns(since), "until": rfc3339_ns(until)}
        )
        assert page.status_code == 200, page.text
        api = page.json()

    monkeypatch.setenv("PREMORTEM_DATABASE_URL", url)
    load_settings.cache_clear()
    history = _cli_json(
        tmp_path,
        "history.json",
        "backtest",
        "history",
        "--since",
        rfc3339_ns(since),
        "--until",
        rfc3339_ns(until),
    )
    load_settings.cache_clear()

    assert offline["counts"]["right_alerts"] >= 1, "the fixture must hold a warned failure"
    for which in ("model", "baseline"):
        replayed = offline if which == "model" else offline["baseline"]
        assert _agreed(history[which]) == _agreed(replayed), which
        assert _agreed(api[which]) == _agreed(replayed), which
    assert history["live"]["model"] == api["model"]
