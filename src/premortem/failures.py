"""Failures seen live: when a learned mode's manifestation shows up in the logs, it is a failure;
so is a failed test run whose failure no log line showed (its probe's deadline), when it ends.

The online predictor reports the first manifestation line of each incident, or the failed
run's report (`OnlinePredictor.observed_failures`); the prediction stage stores it as an
operational event of type `premortem.failure.observed` (source `premortem`), so that everything
that counts failures — the Backtest page, `backtest history` — counts the ones premortem saw
itself next to failed test runs and incident events. `GET /api/v1/failures` lists them.
Training does not learn new modes from them (they already are a mode's failure).
"""

from __future__ import annotations

from typing import Any

from premortem.domain import Event, rfc3339_ns
from premortem.learn.predictor import ObservedFailure

OBSERVED_FAILURE = "premortem.failure.observed"
SOURCE = "premortem"
# An event whose type says one of these is a failure when failures are counted (the Backtest
# page, the dashboard's timeline); training learns modes only from FAILURE_EVENT_TYPES.
FAILURE_EVENT_WORDS = ("fail", "incident", "outage", "crash", "down", "error", "oom")


def is_failure_event(event_type: str) -> bool:
    lowered = event_type.lower()
    return any(word in lowered for word in FAILURE_EVENT_WORDS)


def failure_event(observed: ObservedFailure, mode_name: str) -> Event:
    """The stored form of a failure seen live (its id: every field, so a replay stores it once)."""
    return Event(
        time_ns=observed.time_ns,
        type=OBSERVED_FAILURE,
        source=SOURCE,
        subject=mode_name or observed.mode_id or observed.template[:200] or observed.line[:200],
        service=observed.service,
        attributes={
            "mode_id": observed.mode_id,
            "mode_ids": list(observed.mode_ids),
            "record_id": observed.record_id,
            "template": observed.template[:300],
            "line": observed.line,
            **({"test_run": observed.test_id} if observed.test_id else {}),
        },
    )


def failure_view(event: Event) -> dict[str, Any]:
    """A stored failure as `GET /api/v1/failures` shows it."""
    attributes = event.attributes if isinstance(event.attributes, dict) else {}
    return {
        "id": event.id,
        "time": rfc3339_ns(event.time_ns),
        "time_ns": event.time_ns,
        "service": event.service,
        "mode_id": attributes.get("mode_id", ""),
        "mode_name": event.subject,
        "evidence": {
            "record_id": attributes.get("record_id", ""),
            "line": attributes.get("line", ""),
            "template": attributes.get("template", ""),
            "mode_ids": attributes.get("mode_ids", []),
            "test_run": attributes.get("test_run", ""),
        },
    }
