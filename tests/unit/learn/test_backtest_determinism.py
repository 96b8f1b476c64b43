"""Same suite, same model bytes and backtest JSON, whatever the process's string-hash seed
(issue 12).

The suite is built so that the structure search meets ties: services take turns logging the same
new warning before failures (and in some fault-free runs), so adding one service's edge scores
like adding another's. Before the search generated its operations in a stable order, which tie
won followed set order: with `_stable_search` disabled, PYTHONHASHSEED=2 learned other edges
than 0 and 5 on this suite, and the model-bytes test fails.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

TRAIN = """
import hashlib, sys, warnings
from pathlib import Path
warnings.simplefilter("ignore")
from premortem.learn.model import train
from premortem.learn.suite_backtest import read_suite, split_suite
from premortem.runtime.training import logs_by_run, run_windows_ns
suite = read_suite(Path(sys.argv[1]))
runs, _ = split_suite(suite)
model = train(runs, logs_by_run(runs, suite.logs, windows=run_windows_ns(suite.runs)))
print(hashlib.sha256(model.dumps()).hexdigest())
"""

START = datetime(2026, 5, 4, 8, 0, 0, tzinfo=UTC)
RUN_S = 40
SERVICES = [f"svc{i}" for i in range(6)]
FAILURES = {"a": "checkout failed: payment timeout", "b": "search failed: index unavailable"}


def _write_suite(path: Path) -> None:
    rng = random.Random(7)
    runs: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for number in range(24):
        begin = START + timedelta(seconds=number * RUN_S)
        kind = "ff" if number % 3 == 0 else ("a" if number % 3 == 1 else "b")
        service = SERVICES[(number // 3) % len(SERVICES)]
        doc: dict[str, Any] = {
            "test_id": f"run-{number:02d}",
            "timestamp": begin.isoformat(),
            "service": "shop",
            "expected_outcome": "requests succeed",
            "duration_s": RUN_S,
        }
        if kind == "ff":
            doc["actual_outcome"] = "requests succeed"
        else:
            doc["actual_outcome"] = "requests failed"
            doc["failure_details"] = FAILURES[kind]
        runs.append(doc)
        for second in range(RUN_S):
            now = begin + timedelta(seconds=second, milliseconds=rng.randrange(900))
            lines.append(_line(now, "shop", "INFO", f"GET /items/{rng.randrange(999)} 200"))
            if 8 <= second < 30 and second % 4 == 0 and (kind != "ff" or number % 2):
                lines.append(_line(now, service, "WARN", f"{service} slow reply from upstream"))
            if kind != "ff" and 30 <= second < 33:
                lines.append(_line(now, "shop", "ERROR", FAILURES[kind]))
    (path / "runs.json").write_bytes(orjson.dumps(runs))
    (path / "logs.jsonl").write_bytes(b"\n".join(orjson.dumps(line) for line in lines))


def _line(now: datetime, service: str, level: str, body: str) -> dict[str, Any]:
    return {"timestamp": now.isoformat(), "service": service, "severity_text": level, "body": body}


def _report(suite: Path, out: Path, seed: int, *flags: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "premortem.cli",
            "backtest",
            "suite",
            str(suite),
            "--json",
            str(out),
            *flags,
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    return orjson.loads(out.read_bytes())


def _model_digest(suite: Path, seed: int) -> str:
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    done = subprocess.run(
        [sys.executable, "-c", TRAIN, str(suite)], env=env, check=True, capture_output=True
    )
    return done.stdout.decode().strip()


def test_trained_model_bytes_do_not_follow_the_hash_seed(tmp_path: Path) -> None:
    _write_suite(tmp_path)
    # Without the stable search, seed 2 learned other edges on this suite than seeds 0 and 5.
    assert len({_model_digest(tmp_path, seed) for seed in (0, 2, 5)}) == 1


def test_backtest_json_does_not_follow_the_hash_seed(tmp_path: Path) -> None:
    _write_suite(tmp_path)
    reports = [_report(tmp_path, tmp_path / f"seed{seed}.json", seed) for seed in (0, 2, 5)]
    assert reports[0]["details"]["replayed_runs"] == 12
    assert reports[0] == reports[1] == reports[2]


def test_suite_validation_from_the_cli_scores_earlier_runs_only_whatever_the_hash_seed(
    tmp_path: Path,
) -> None:
    _write_suite(tmp_path)
    reports = [
        _report(tmp_path, tmp_path / f"val{seed}.json", seed, "--validate-only") for seed in (0, 5)
    ]
    assert reports[0] == reports[1]
    folds = reports[0]["details"]["folds"]
    assert [f["train_runs"] for f in folds] == [6, 9] and [f["replayed_runs"] for f in folds] == [
        3,
        3,
    ]
    runs = orjson.loads((tmp_path / "runs.json").read_bytes())
    earlier = {r["test_id"] for r in sorted(runs, key=lambda r: r["timestamp"])[:12]}
    assert {r["run"] for f in folds for r in f["runs"]} <= earlier
