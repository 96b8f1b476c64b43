"""When a native test run failed (docs/ingest.md, "When a run failed").

A trial on a fifth unseen system wrote its passing runs as a person would — expected "all ticket
creations and searches succeed (no 5xx)", actual "all ticket creations and searches succeeded" —
and every one of them became a failure (outcome texts that differ), with a mode learned from
passing runs and harmless runs alerted. A verdict word decides; texts that differ without
`failure_details` or `failure_time` are a failure unless the actual outcome reads as a success.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from premortem.ingest.native import parse_test_runs

NOW = 1_714_564_800_000_000_000
EXPECTED = "all ticket creations and searches succeed (no 5xx)"


def _failed(**fields: Any) -> bool:
    doc = {"test_id": "t-1", "timestamp": "2026-12-06T10:00:00Z", **fields}
    [parsed] = parse_test_runs(orjson.dumps(doc), now_ns=NOW)
    return parsed.run.failed


@pytest.mark.parametrize(
    ("fields", "failed"),
    [
        # a verdict word decides, whatever else the run says
        ({"expected_outcome": "pass", "actual_outcome": "PASSED"}, False),
        ({"expected_outcome": EXPECTED, "actual_outcome": "ok"}, False),
        ({"expected_outcome": EXPECTED, "actual_outcome": "Failed."}, True),
        # the same text: passed
        ({"expected_outcome": EXPECTED, "actual_outcome": EXPECTED.upper()}, False),
        # other words for the same success
        ({"expected_outcome": EXPECTED, "actual_outcome": "all ticket creations and searches succeeded"}, False),
        ({"expected_outcome": "steady state holds", "actual_outcome": "steady state held"}, False),
        ({"expected_outcome": EXPECTED, "actual_outcome": "every request succeeded, 0 errors"}, False),
        ({"expected_outcome": EXPECTED, "actual_outcome": "no 5xx, every request succeeded"}, False),
        # different words that name something going wrong: failed
        ({"expected_outcome": EXPECTED, "actual_outcome": "3 of 200 ticket creations failed with 503"}, True),
        ({"expected_outcome": EXPECTED, "actual_outcome": "searches succeeded, creations timed out"}, True),
        ({"expected_outcome": "steady state holds", "actual_outcome": "steady state deviated"}, True),
        ({"expected_outcome": EXPECTED, "actual_outcome": "tickets not created"}, True),
        # different words, and the run says what broke: failed whatever the words
        ({"expected_outcome": EXPECTED, "actual_outcome": "all succeeded", "failure_details": "probe: 503"}, True),
        # "all" and "within" say nothing by themselves; a status code in the plural is one
        ({"expected_outcome": EXPECTED, "actual_outcome": "all pods restarted"}, True),
        ({"expected_outcome": EXPECTED, "actual_outcome": "p99 rose to 9 s within a minute"}, True),
        ({"expected_outcome": EXPECTED, "actual_outcome": "all requests returned 500s"}, True),
        ({"expected_outcome": EXPECTED, "actual_outcome": "2.0 errors per second"}, True),
        # the same text as expected passed, even when it is a verdict word
        ({"expected_outcome": "error", "actual_outcome": "error"}, False),
        # texts that differ and read as neither: failed, as before
        ({"expected_outcome": EXPECTED, "actual_outcome": "queue 200/200"}, True),
        # no outcome yet, no expectation
        ({"failure_details": "probe: 503"}, False),
        ({"expected_outcome": None, "actual_outcome": "x", "failure_details": "probe: 503"}, True),
    ],
)  # fmt: skip
def test_when_a_run_failed(fields: dict[str, Any], failed: bool) -> None:
    assert _failed(**fields) is failed
