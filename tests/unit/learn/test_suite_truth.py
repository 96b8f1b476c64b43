"""`truth.json` of a recorded suite (docs/correlation.md, "Your own suite"): a map by test id or
a list with `test_id`, other keys ignored; how many failure times were read is in the report."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from premortem.domain import datetime_to_ns
from premortem.learn.suite_backtest import backtest_suite, read_suite

RUNS = [
    {"test_id": "a", "timestamp": "2026-12-06T05:00:00Z", "expected_outcome": "ok",
     "actual_outcome": "failed", "failure_details": "probe failed"},
    {"test_id": "b", "timestamp": "2026-12-06T05:02:00Z", "expected_outcome": "ok",
     "actual_outcome": "ok"},
]  # fmt: skip


@pytest.mark.parametrize(
    "truth",
    [
        {"a": {"failure_time": "2026-12-06T05:01:10Z", "kind": "leak"}, "b": {}},
        [
            {"test_id": "a", "failure_time": "2026-12-06T05:01:10Z", "half": "late"},
            {"test_id": "b", "failure_time": None},
        ],
    ],
)
def test_truth_as_a_map_or_a_list(tmp_path: Path, truth: object) -> None:
    (tmp_path / "runs.json").write_text(json.dumps(RUNS))
    (tmp_path / "logs.jsonl").write_text(
        json.dumps({"timestamp": "2026-12-06T05:00:01Z", "body": "started"}) + "\n"
    )
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    suite = read_suite(tmp_path)
    assert suite.truth == {"a": datetime_to_ns(datetime(2026, 12, 6, 5, 1, 10, tzinfo=UTC))}
    report = backtest_suite(suite, train_runs=suite.runs[1:], replay_runs=suite.runs[:1])
    assert report["details"]["truth_runs"] == 1
