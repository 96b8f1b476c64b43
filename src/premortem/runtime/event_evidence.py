"""Operational events behind a prediction: the deploys and config changes an alert shows.

Events are not live evidence for the network (docs/correlation.md: they give triggers, lead
times and advice). But a mode learned that an event type preceded its failures (an
`event_sequence` trigger), and the newest such events before a prediction are what a responder
looks for first ("the deploy 1.4 s before"): they go into the prediction's `evidence.events`,
which the alert carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from premortem.domain import Event, Prediction, TriggerKind, rfc3339_ns
from premortem.learn.model import TrainedModel
from premortem.ports import EventQuery, Page

EVENTS_PER_PREDICTION = 5


class EventSource(Protocol):
    def list_events(self, query: EventQuery) -> Page[Event]: ...


def learned_event_types(model: TrainedModel, mode_id: str) -> list[str]:
    """The event types the mode's event triggers name (each type of each learned sequence)."""
    mode = model.mode(mode_id)
    if mode is None:
        return []
    types = {
        str(name)
        for trigger in mode.triggers
        if trigger.kind == TriggerKind.EVENT_SEQUENCE
        for name in trigger.condition.get("sequence", ())
    }
    return sorted(types)


def add_event_evidence(
    events: EventSource, model: TrainedModel, predictions: Sequence[Prediction]
) -> None:
    """Give each prediction that opens or raises one the newest events of its mode's learned
    types within the evidence window before it (in time order), in place."""
    window_ns = int(model.indicators.window_s * 1e9)
    for prediction in predictions:
        if "closes" in prediction.evidence:
            continue
        types = learned_event_types(model, prediction.mode_id)
        found: dict[str, Event] = {}
        for kind in types:
            query = EventQuery(
                type=kind,
                since_ns=prediction.time_ns - window_ns,
                until_ns=prediction.time_ns + 1,
                limit=EVENTS_PER_PREDICTION,
            )
            found.update((e.id, e) for e in events.list_events(query).items)
        newest = sorted(found.values(), key=lambda e: (e.time_ns, e.id))[-EVENTS_PER_PREDICTION:]
        if newest:
            prediction.evidence["events"] = [_shown(e) for e in newest]


def _shown(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "time_ns": event.time_ns,
        "time": rfc3339_ns(event.time_ns),
        "type": event.type,
        "source": event.source,
        "subject": event.subject,
        "service": event.service,
    }
