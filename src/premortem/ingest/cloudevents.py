"""CloudEvents 1.0: structured (one event), batch (an array) and binary mode (formats.md §9).

The record id derives from `source` + `id`, the spec's deduplication key, so a re-delivered event
is stored once (the first delivery is kept); the producer's `id` itself is kept as the event's
`external_id`, so `GET /api/v1/events?source=...&external_id=...` finds it again. The service
is taken from `data.service`, else a `service` extension attribute, else `subject`. Extension
attributes become the event's attributes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import orjson

from premortem.domain import JSON, Event, stable_id
from premortem.errors import IngestError
from premortem.ingest.fields import (
    EVENT_LIMITS,
    check_depth,
    check_lengths,
    expect_object,
    load_documents,
    optional_str,
    required_str,
    timestamp_ns,
)

_CONTEXT = frozenset(
    {"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "dataschema"}
)
_DATA = frozenset({"data", "data_base64"})


def parse_structured(
    data: bytes | str | Any, *, now_ns: int, batch_mode: bool | None = None
) -> list[Event]:
    """One structured event or a batch (JSON array); a batch with one bad event raises.

    `batch_mode` is what the media type promised (`application/cloudevents-batch+json`: True,
    `application/cloudevents+json`: False); None takes either."""
    items, batch = load_documents(data)
    if batch_mode is not None and batch != batch_mode:
        shape = "a JSON array of events (batch mode)" if batch_mode else "one JSON object"
        raise IngestError(f"must be {shape}, as the content type says", pointer="")
    events = []
    for index, item in enumerate(items):
        try:
            events.append(event_from_json(item, now_ns=now_ns))
        except IngestError as exc:
            raise (exc.at(f"/{index}") if batch else exc) from None
    return events


def event_from_json(item: Any, *, now_ns: int) -> Event:
    doc = expect_object(item, "")
    check_depth(doc, "")
    specversion = required_str(doc, "specversion", "")
    if not specversion.startswith("1."):
        raise IngestError(f"unsupported specversion {specversion!r}", pointer="/specversion")
    if "data" in doc and "data_base64" in doc:
        raise IngestError("data and data_base64 are mutually exclusive", pointer="/data_base64")
    content_type = optional_str(doc, "datacontenttype", "")
    data = doc.get("data")
    if "data_base64" in doc:
        data = _decode_base64(doc["data_base64"], content_type)
    extensions = {k: v for k, v in doc.items() if k not in _CONTEXT and k not in _DATA}
    for key in ("datacontenttype", "dataschema"):
        if doc.get(key) is not None:
            extensions[key] = doc[key]
    return _event(doc, data, extensions, now_ns=now_ns)


def _event(context: Mapping[str, Any], data: Any, extensions: JSON, *, now_ns: int) -> Event:
    source = required_str(context, "source", "")
    event_id = required_str(context, "id", "")
    subject = optional_str(context, "subject", "") or ""
    raw_time = context.get("time")
    service = data.get("service") if isinstance(data, dict) else None
    if not isinstance(service, str) or not service:
        extension = extensions.get("service")
        service = extension if isinstance(extension, str) and extension else subject
    event = Event(
        time_ns=now_ns if raw_time is None else timestamp_ns(raw_time, "/time"),
        type=required_str(context, "type", ""),
        source=source,
        subject=subject,
        service=service,
        attributes=extensions,
        data=data,
        id=stable_id("cloudevent", source, event_id),
        external_id=event_id,
    )
    check_lengths(event, EVENT_LIMITS, {"service": "/data/service", "external_id": "/id"})
    return event


def _decode_base64(value: Any, content_type: str | None) -> Any:
    if not isinstance(value, str):
        raise IngestError("must be a base64 string", pointer="/data_base64")
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise IngestError(f"invalid base64: {exc}", pointer="/data_base64") from exc
    return _decode_body(raw, content_type, at="/data_base64")


def _decode_body(raw: bytes, content_type: str | None, *, at: str) -> Any:
    """Data as JSON when its content type is JSON (or absent), text when UTF-8, else base64."""
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media.endswith("/json") or media.endswith("+json"):
        if not raw.strip():
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise IngestError(f"data is not valid JSON: {exc}", pointer=at) from exc
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode()


def parse_binary(headers: Mapping[str, str], body: bytes, *, now_ns: int) -> Event:
    """Binary mode: attributes in `ce-*` headers (percent-encoded), the body is the data.

    Errors point at the header, e.g. `/headers/ce-id`.
    """
    context: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith("ce-"):
            context[lowered[3:]] = unquote(value)
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    try:
        if not context.get("specversion", "").startswith("1."):
            raise IngestError("is required and must be 1.x", pointer="/specversion")
        data = _decode_body(body, content_type, at="/body")
        check_depth(data, "/body")
        extensions: JSON = {k: v for k, v in context.items() if k not in _CONTEXT}
        if content_type:
            extensions["datacontenttype"] = content_type
        return _event(context, data, extensions, now_ns=now_ns)
    except IngestError as exc:
        if exc.pointer == "/body":
            raise
        raise IngestError(exc.message, pointer="/headers/ce-" + exc.pointer.lstrip("/")) from None
