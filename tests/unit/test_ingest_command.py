"""`premortem ingest --kind test-run` says how the server read each run (a trial had to ask
`GET /api/v1/test-runs?outcome=fail` to learn whether its runs were taken as failed)."""

from __future__ import annotations

import httpx

from premortem.commands.ingest import MAX_LISTED_RUNS, _outcomes_read


def _answer(outcomes: dict[str, str]) -> httpx.Response:
    return httpx.Response(201, json={"stored": len(outcomes), "outcomes": outcomes})


def test_the_verdicts_are_counted_and_listed() -> None:
    said = _outcomes_read(_answer({"run-1": "fail", "run-2": "pass", "run-3": "fail"}))
    assert said.splitlines() == [
        "read as: 2 fail, 1 pass",
        "  run-1: fail",
        "  run-2: pass",
        "  run-3: fail",
    ]


def test_many_runs_are_counted_only() -> None:
    many = {f"run-{n}": "fail" for n in range(MAX_LISTED_RUNS + 1)}
    assert _outcomes_read(_answer(many)) == f"read as: {MAX_LISTED_RUNS + 1} fail"


def test_an_answer_without_outcomes_says_so() -> None:
    assert "did not say" in _outcomes_read(httpx.Response(201, content=b"ok"))
