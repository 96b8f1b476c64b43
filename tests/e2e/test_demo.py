"""`premortem demo --quick --exit` end to end: the alert must come before the first failure line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from premortem.demo.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PREMORTEM = str(Path(sys.executable).with_name("premortem"))
MIN_LEAD_TIME_S = 5.0


# What the demo's failure looks like in its own logs (premortem/demo/pool.py, PoolExhausted and
# the access line of demo/service.py): a learned precursor must never be one of these.
FAILURE_LINE_WORDS = ("connection pool exhausted", "rejecting", " 503 ")


def test_quick_demo_alerts_before_the_failure(tmp_path: Path) -> None:
    completed = subprocess.run(
        [PREMORTEM, "demo", "--quick", "--exit", "--port", str(free_port())],
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
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
