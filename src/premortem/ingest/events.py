"""Operational events in any accepted shape: CloudEvents, Kubernetes Events, or native events.

Each item of a batch is recognised on its own, so one array may mix the three: a `specversion`
member marks a CloudEvent, `involvedObject`/`regarding`, `kind: Event|EventList` or a watch
envelope marks a Kubernetes event, anything else is read as a native event.
"""

from __future__ import annotations

from typing import Any

from premortem.domain import Event
from premortem.ingest import cloudevents, k8s, native
from premortem.ingest.fields import each_record, load_documents
from premortem.ingest.identity import identify_untimed


def parse_events(data: bytes | str | Any, *, now_ns: int) -> list[Event]:
    items, batch = load_documents(data)
    events: list[Event] = []
    untimed: list[int] = []
    for index, parsed in each_record(
        items, lambda item: _parse_one(item, now_ns=now_ns), batch=batch
    ):
        if len(parsed) == 1 and _native_untimed(items[index]):
            untimed.append(len(events))
        events.extend(parsed)
    identify_untimed(events, untimed)
    return events


def _native_untimed(item: dict[str, Any]) -> bool:
    return "specversion" not in item and not _is_kubernetes(item) and native.is_untimed_event(item)


def _parse_one(item: Any, *, now_ns: int) -> list[Event]:
    if not isinstance(item, dict):
        return [native.native_event(item, now_ns=now_ns)]  # raises the type error
    if "specversion" in item:
        return [cloudevents.event_from_json(item, now_ns=now_ns)]
    if _is_kubernetes(item):
        return k8s.parse_events(item, now_ns=now_ns)
    return [native.native_event(item, now_ns=now_ns)]


def _is_kubernetes(item: dict[str, Any]) -> bool:
    if item.get("kind") in ("Event", "EventList") or "involvedObject" in item:
        return True
    if "regarding" in item:
        return True
    return isinstance(item.get("object"), dict) and isinstance(item.get("type"), str)
