"""`premortem demo --quick --exit` end to end: the alert must come before the first failure line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from quick_demo import run_quick_demo

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MIN_LEAD_TIME_S = 5.0


# What the demo's failure looks like in its own logs (premortem/demo/pool.py, PoolExhausted and
# the access line of demo/service.py): a learned precursor must never be one of these.
FAILURE_LINE_WORDS = ("connection pool exhausted", "rejecting", " 503 ")


def test_quick_demo_alerts_before_the_failure(tmp_path: Path) -> None:
    completed = run_quick_demo(tmp_path)
    lines = completed.stdout.strip().splitlines()
    assert lines, f"no output; stderr: {completed.stderr[-2000:]}"
    result = json.loads(lines[-1])
    report = "\n".join(lines[-25:]) + "\n" + completed.stderr[-1500:]
    assert set(result) >= {"alert_before_failure", "lead_time_s", "failure_mode", "probability"}
    assert result["alert_before_failure"] is True, report
    assert result["lead_time_s"] >= MIN_LEAD_TIME_S, report
    assert result["failure_mode"] and 0 < result["probability"] <= 1, report
    assert completed.returncode == 0, report
    assert result["duration_s"] <= 90, report
    # Named after what broke, not after the health probe that saw it (issue 11).
    assert "connection pool" in result["failure_mode"], report
    _no_failure_line_is_a_trigger(tmp_path)
    _the_live_failure_is_a_failure_and_the_alert_a_hit(tmp_path, result)


def _the_live_failure_is_a_failure_and_the_alert_a_hit(
    tmp_path: Path, result: dict[str, object]
) -> None:
    """Issue 12: the demo's live failure is stored as one, the Backtest page scores the early
    alert as a hit with its lead time, and `backtest history` says the same of the range."""
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from premortem.cli import app as cli
    from premortem.config import Settings, load_settings
    from premortem.evaluation.history import StoredHistoryBacktest
    from premortem.ingest.fields import rfc3339_to_ns
    from premortem.service.app import create_app

    (database,) = tmp_path.glob("premortem-demo-*/premortem.db")
    url = f"sqlite:///{database}"
    failed_ns = rfc3339_to_ns(str(result["first_failure_at"]))
    settings = Settings(database_url=url, allowed_hosts=["testserver"])
    with TestClient(create_app(settings)) as client:
        # The live phase: after the last chaos run started (they are what history trains on).
        runs = client.get("/api/v1/test-runs", params={"limit": 100}).json()["items"]
        since = max(rfc3339_to_ns(r["timestamp"]) for r in runs) + 10**9
        until = failed_ns + 60 * 10**9
        failures = client.get("/api/v1/failures").json()["items"]
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        page = StoredHistoryBacktest(runtime).report(since_ns=since, until_ns=until, service=None)
        api = client.get("/api/v1/backtest", params={"since": _iso(since), "until": _iso(until)})
        assert api.status_code == 200, api.text
    assert [f["mode_name"] for f in failures] == [result["failure_mode"]], failures
    assert abs(failures[0]["time_ns"] - failed_ns) < 2 * 10**9, failures
    assert page.model.warned == 1 and page.model.false_alarms == 0, page
    assert page.model.lead_times_s[0] >= MIN_LEAD_TIME_S, page

    os.environ["PREMORTEM_DATABASE_URL"] = url
    load_settings.cache_clear()
    out = tmp_path / "history.json"
    try:
        ran = CliRunner().invoke(
            cli,
            [
                "backtest",
                "history",
                "--since",
                _iso(since),
                "--until",
                _iso(until),
                "--json",
                str(out),
            ],
        )
    finally:
        del os.environ["PREMORTEM_DATABASE_URL"]
        load_settings.cache_clear()
    assert ran.exit_code == 0, ran.output
    live = json.loads(out.read_text())["live"]
    # One report, three ways in: the page's source, its API and the CLI say the same.
    assert live["model"] == page.model.to_json() == api.json()["model"]
    assert live["baseline"] == page.baseline.to_json() == api.json()["baseline"]


def _iso(time_ns: int) -> str:
    from premortem.domain import rfc3339_ns

    return rfc3339_ns(time_ns)


def _no_failure_line_is_a_trigger(tmp_path: Path) -> None:
    from premortem.domain import TriggerKind
    from premortem.store.engine import make_engine
    from premortem.store.modes import SqlModeRepository

    (database,) = tmp_path.glob("premortem-demo-*/premortem.db")
    modes = [m for m in SqlModeRepository(make_engine(f"sqlite:///{database}")).all_modes()]
    learned = [m for m in modes if m.source == "learned"]
    assert learned
    for mode in learned:
        for trigger in mode.triggers:
            if trigger.kind != TriggerKind.LOG_PATTERN:
                continue
            text = f"{trigger.description} {trigger.condition.get('sample', '')}".lower()
            assert not any(word in text for word in FAILURE_LINE_WORDS), (mode.name, text)
