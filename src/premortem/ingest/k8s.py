"""Kubernetes core/v1 `Event` objects (formats.md §9), also `events.k8s.io/v1` spellings.

Accepted shapes: one Event, a JSON array of them, an `EventList` (`items`), a watch envelope
`{"type": "ADDED", "object": {...}}` or JSON lines of envelopes (`kubectl get events -w -o json`).
Watch BOOKMARK, ERROR and DELETED envelopes carry no new occurrence and are skipped.

The event time is the first set of `eventTime`, `series.lastObservedTime`, `lastTimestamp`,
`firstTimestamp` (then `metadata.creationTimestamp`, then `now_ns`). The type is `k8s.<reason>`;
the service is an `app.kubernetes.io/name` or `app` label, else the involved object's name without
the hash suffixes Deployments and ReplicaSets add to pod names.
"""

from __future__ import annotations

import re
from typing import Any

from premortem.domain import JSON, Event, stable_id
from premortem.errors import IngestError
from premortem.ingest.fields import (
    EVENT_LIMITS,
    check_depth,
    check_lengths,
    expect_array,
    expect_object,
    load_documents,
    optional_object,
    timestamp_ns,
)

_TIME_FIELDS = (
    ("eventTime",),
    ("series", "lastObservedTime"),
    ("lastTimestamp",),
    ("deprecatedLastTimestamp",),
    ("firstTimestamp",),
    ("deprecatedFirstTimestamp",),
    ("metadata", "creationTimestamp"),
)
_SKIPPED_WATCH_TYPES = frozenset({"BOOKMARK", "ERROR", "DELETED"})
# <deployment>-<replicaset hash>-<pod suffix>, <replicaset>-<hash>, <statefulset>-<ordinal>.
# Kubernetes draws hashes from an alphabet without vowels, so "-frontend" is never taken for one.
_HASH = "[bcdfghjklmnpqrstvwxz0-9]"
_POD_SUFFIX = re.compile(rf"(-{_HASH}{{6,10}})?-{_HASH}{{5}}$|-{_HASH}{{6,10}}$|-\d+$")
_SERVICE_LABELS = ("app.kubernetes.io/name", "app", "k8s-app")


def parse_events(data: bytes | str | Any, *, now_ns: int) -> list[Event]:
    """All Kubernetes events in `data`; one malformed event raises."""
    items, batch = load_documents(data)
    events: list[Event] = []
    for index, item in enumerate(items):
        at = f"/{index}" if batch else ""
        try:
            check_depth(item, "")
            events.extend(_events_in(item, now_ns=now_ns))
        except IngestError as exc:
            raise exc.at(at) from None
    return events


def _events_in(item: Any, *, now_ns: int) -> list[Event]:
    doc = expect_object(item, "")
    if doc.get("kind") == "EventList" or ("items" in doc and "kind" not in doc):
        events = []
        for index, inner in enumerate(expect_array(doc.get("items"), "/items")):
            try:
                events.append(event_from_object(inner, now_ns=now_ns))
            except IngestError as exc:
                raise exc.at(f"/items/{index}") from None
        return events
    if isinstance(doc.get("object"), dict) and isinstance(doc.get("type"), str):
        if doc["type"] in _SKIPPED_WATCH_TYPES:
            return []
        try:
            return [event_from_object(doc["object"], now_ns=now_ns)]
        except IngestError as exc:
            raise exc.at("/object") from None
    return [event_from_object(doc, now_ns=now_ns)]


def event_from_object(item: Any, *, now_ns: int) -> Event:
    doc = expect_object(item, "")
    kind = doc.get("kind")
    if kind is not None and kind != "Event":
        raise IngestError(f"must be 'Event', got {kind!r:.64}", pointer="/kind")
    metadata = optional_object(doc, "metadata", "")
    involved = optional_object(doc, "regarding" if "regarding" in doc else "involvedObject", "")
    reason = doc.get("reason")
    if not isinstance(reason, str) or not reason:
        raise IngestError("is required and must be a non-empty string", pointer="/reason")
    stamped = _event_time(doc)
    time_ns = now_ns if stamped is None else stamped
    namespace = involved.get("namespace") or metadata.get("namespace") or ""
    subject = "/".join(str(p) for p in (involved.get("kind"), namespace, involved.get("name")) if p)
    count = doc.get("count") or doc.get("deprecatedCount") or (doc.get("series") or {}).get("count")
    source = optional_object(doc, "source", "")
    component = (
        doc.get("reportingComponent") or doc.get("reportingController") or source.get("component")
    )
    attributes: JSON = {
        "k8s.event.type": doc.get("type") or "",
        "k8s.event.reason": reason,
        "k8s.event.count": count if isinstance(count, int) else 1,
        "k8s.namespace.name": namespace,
        "k8s.object.kind": involved.get("kind") or "",
        "k8s.object.name": involved.get("name") or "",
    }
    if involved.get("fieldPath"):
        attributes["k8s.object.field_path"] = involved["fieldPath"]
    uid = metadata.get("uid") or metadata.get("name") or ""
    event = Event(
        time_ns=time_ns,
        type=f"k8s.{reason}",
        source=f"k8s/{component}" if component else "k8s",
        subject=subject,
        service=_service(metadata, involved),
        attributes=attributes,
        data={"message": doc.get("message") or doc.get("note") or ""},
        # An object's uid and count name one occurrence; the time only when the object has one
        # (now_ns would make a re-sent event new).
        id=stable_id("k8s-event", uid, attributes["k8s.event.count"], stamped) if uid else "",
    )
    if not uid and stamped is None:
        event.id = event.timeless_digest()
    uid_given = metadata.get("uid")
    event.external_id = uid_given if isinstance(uid_given, str) else ""
    names = {
        "type": "/reason",
        "source": "/reportingComponent",
        "subject": "/involvedObject",
        "external_id": "/metadata/uid",
    }
    check_lengths(event, EVENT_LIMITS, names | {"service": "/metadata/labels"})
    return event


def _event_time(doc: JSON) -> int | None:
    for path in _TIME_FIELDS:
        value: Any = doc
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value:
            return timestamp_ns(value, "/" + "/".join(path))
    return None


def _service(metadata: JSON, involved: JSON) -> str:
    labels = metadata.get("labels")
    if isinstance(labels, dict):
        for key in _SERVICE_LABELS:
            if isinstance(labels.get(key), str) and labels[key]:
                return str(labels[key])
    name = involved.get("name")
    if not isinstance(name, str):
        return ""
    if involved.get("kind") in ("Pod", "ReplicaSet", "Job"):
        return _POD_SUFFIX.sub("", name) or name
    return name
