"""Grafana Loki push API (`POST /loki/api/v1/push`, formats.md §2), JSON and protobuf.

JSON: `{"streams": [{"stream": {labels}, "values": [["<unix ns>", "<line>", {metadata}], ...]}]}`.
Protobuf (what Promtail, Grafana Alloy and the Loki clients send by default): a snappy block of
`logproto.PushRequest` — streams of `{labels: '{app="api", level="warn"}', entries: [{timestamp,
line, structuredMetadata: [{name, value}]}]}` (grafana/loki, pkg/push/push.proto). Both give the
same records.
Labels become the record's resource, structured metadata its attributes. The service is the first
of the labels `service_name`, `service`, `app`, `job`; the severity comes from a `level`,
`severity` or `detected_level` label or metadata entry, else from the line itself; continuation
lines are folded into the entry they continue (`multiline`).

Loki rejects a whole push when one entry is bad, and so does this parser. Protobuf errors point
into the same JSON shape (`/streams/1/values/4/0` is the fifth entry's timestamp).
"""

from __future__ import annotations

from typing import Any

from premortem.domain import LogRecord
from premortem.errors import IngestError
from premortem.ingest.fields import (
    MAX_LISTED_ERRORS,
    check_log_lengths,
    checked,
    expect_array,
    expect_object,
    load_json,
    string_map,
    type_name,
)
from premortem.ingest.multiline import assemble
from premortem.ingest.protowire import fields, message, number, signed64, text, unsnappy
from premortem.ingest.severity import severity_number

# 2255-03-14: a round bound below 2**63 that a JSON number states exactly (clients and schema
# tools read large integers as doubles), the same for strings and numbers.
MAX_ENTRY_NS = 9 * 10**18
SERVICE_LABELS = ("service_name", "service", "app", "job")
LEVEL_KEYS = ("level", "severity", "detected_level")


def is_protobuf(content_type: str | None) -> bool:
    """Loki reads any body that is not declared JSON as snappy-compressed protobuf."""
    return (content_type or "").split(";")[0].strip().lower() != "application/json"


def parse_push_protobuf(body: bytes, *, limit: int) -> list[LogRecord]:
    """Every entry of a snappy-compressed `logproto.PushRequest`; raises on the first bad one."""
    records: list[LogRecord] = []
    s = 0
    for field, _, value in fields(unsnappy(body, limit=limit)):
        if field != 1:  # 2 is `format` ("loki" or "otlp"): the entries read the same
            continue
        at = f"/streams/{s}"
        labels_text = ""
        entries: list[memoryview] = []
        for sub, _, sub_value in fields(message(value, at=at), at=at):
            if sub == 1:
                labels_text = text(sub_value, at=f"{at}/stream")
            elif sub == 2:
                entries.append(message(sub_value, at=f"{at}/values/{len(entries)}"))
        labels = parse_labels(labels_text, at=f"{at}/stream")
        service = next((labels[k] for k in SERVICE_LABELS if labels.get(k)), "")
        for v, entry in enumerate(entries):
            records.append(_protobuf_entry(entry, labels, service, at=f"{at}/values/{v}"))
        s += 1
    return assemble(records)


def _protobuf_entry(
    entry: memoryview, labels: dict[str, str], service: str, *, at: str
) -> LogRecord:
    seconds = nanos = 0
    line = ""
    metadata: dict[str, str] = {}
    for field, _, value in fields(entry, at=at):
        if field == 1:  # google.protobuf.Timestamp
            for part, _, part_value in fields(message(value, at=f"{at}/0"), at=f"{at}/0"):
                if part == 1:
                    seconds = signed64(number(part_value, at=f"{at}/0"))
                elif part == 2:
                    nanos = number(part_value, at=f"{at}/0")
        elif field == 2:
            line = text(value, at=f"{at}/1")
        elif field == 3:
            name = value_ = ""
            for part, _, part_value in fields(message(value, at=f"{at}/2"), at=f"{at}/2"):
                if part == 1:
                    name = text(part_value, at=f"{at}/2")
                elif part == 2:
                    value_ = text(part_value, at=f"{at}/2")
            metadata[name] = value_
    if seconds < 0 or not 0 <= nanos < 1_000_000_000:
        raise IngestError(f"must be a time after 1970, got {seconds}s {nanos}ns", pointer=f"{at}/0")
    return _entry([str(seconds * 1_000_000_000 + nanos), line, metadata], labels, service, at=at)


def parse_labels(selector: str, *, at: str) -> dict[str, str]:
    """A Prometheus label set as Loki writes it: `{app="api", level="warn"}` (Go-quoted values)."""
    body = selector.strip()
    if not body:
        return {}
    if not (body.startswith("{") and body.endswith("}")):
        raise IngestError(
            f'must be a label set like {{app="api"}}, got {selector!r:.64}', pointer=at
        )
    labels: dict[str, str] = {}
    index, end = 1, len(body) - 1
    while index < end:
        while index < end and body[index] in " ,":
            index += 1
        if index >= end:
            break
        equals = body.find("=", index)
        if equals < 0 or equals + 1 >= end or body[equals + 1] != '"':
            raise IngestError(f"invalid label set {selector!r:.64}", pointer=at)
        name = body[index:equals].strip()
        value, index = _quoted(body, equals + 1, selector, at)
        labels[name] = value
    return labels


_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t"}


def _quoted(body: str, start: int, selector: str, at: str) -> tuple[str, int]:
    """The Go-quoted string starting at body[start] == '"', and the index after it."""
    out: list[str] = []
    index = start + 1
    while index < len(body):
        char = body[index]
        if char == '"':
            return "".join(out), index + 1
        if char == "\\" and index + 1 < len(body):
            out.append(_ESCAPES.get(body[index + 1], body[index + 1]))
            index += 2
            continue
        out.append(char)
        index += 1
    raise IngestError(f"unterminated label value in {selector!r:.64}", pointer=at)


def parse_push(data: bytes | str | Any, *, now_ns: int = 0) -> list[LogRecord]:
    """Every entry of a Loki JSON push request. Every stream and entry is checked, and the
    errors of all bad ones (up to `MAX_LISTED_ERRORS`, every field of each) are raised
    together: nothing of a bad request is stored."""
    del now_ns  # Loki entries always carry their own time
    request = expect_object(load_json(data), "")
    if "streams" not in request:
        raise IngestError("is required", pointer="/streams")
    records: list[LogRecord] = []
    errors: list[IngestError] = []
    for s, stream in enumerate(expect_array(request["streams"], "/streams")):
        try:
            labels, values, service = _stream(stream, at=f"/streams/{s}")
        except IngestError as exc:
            errors.append(exc)
            continue
        for v, entry in enumerate(values):
            try:
                records.append(_entry(entry, labels, service, at=f"/streams/{s}/values/{v}"))
            except IngestError as exc:
                errors.append(exc)
            if len(errors) >= MAX_LISTED_ERRORS:
                raise IngestError.combine(errors)
    if errors:
        raise IngestError.combine(errors)
    return assemble(records)


def _stream(stream: Any, *, at: str) -> tuple[dict[str, str], list[Any], str]:
    stream = expect_object(stream, at)
    errors: list[IngestError] = []
    labels: dict[str, str] = {}
    if "stream" not in stream:
        errors.append(IngestError("is required", pointer=f"{at}/stream"))
    else:
        labels = checked(errors, string_map, stream["stream"], f"{at}/stream") or {}
    values = checked(errors, expect_array, stream.get("values"), f"{at}/values") or []
    if errors:
        raise IngestError.combine(errors)
    service = next((labels[k] for k in SERVICE_LABELS if labels.get(k)), "")
    return labels, values, service


def _entry(entry: Any, labels: dict[str, str], service: str, *, at: str) -> LogRecord:
    if type(entry) is not list or not 2 <= len(entry) <= 3:
        raise IngestError(
            f"must be [timestamp, line] or [timestamp, line, metadata], got {type_name(entry)}",
            pointer=at,
        )
    stamp, line = entry[0], entry[1]
    errors: list[IngestError] = []
    if type(stamp) is str and stamp.isascii() and stamp.isdigit() and len(stamp) <= 19:
        time_ns = int(stamp)
    elif type(stamp) is int and stamp >= 0:
        time_ns = stamp
    elif type(stamp) is float and stamp.is_integer() and stamp >= 0:
        time_ns = int(stamp)  # JSON does not tell 42.0 from 42
    else:
        time_ns = MAX_ENTRY_NS + 1
    if time_ns > MAX_ENTRY_NS:
        errors.append(
            IngestError(
                f"must be Unix nanoseconds as a string of digits (at most {MAX_ENTRY_NS}), "
                f"got {stamp!r:.64}",
                pointer=f"{at}/0",
            )
        )
    if type(line) is not str:
        errors.append(IngestError(f"must be a string, got {type_name(line)}", pointer=f"{at}/1"))
    metadata = (checked(errors, string_map, entry[2], f"{at}/2") or {}) if len(entry) == 3 else {}
    if errors:
        raise IngestError.combine(errors)
    level = next((m[k] for m in (metadata, labels) for k in LEVEL_KEYS if m.get(k)), "")
    record = LogRecord(
        time_ns=time_ns,
        body=line,
        service=service,
        severity_number=severity_number(level) if level else 0,
        severity_text=level,
        attributes=metadata,
        resource=labels,  # shared by the stream's entries: records never mutate it
        trace_id=metadata.get("trace_id") or None,
        span_id=metadata.get("span_id") or None,
    )
    stream = at.rsplit("/values/", 1)[0] + "/stream"
    names = {"service": stream, "severity_text": f"{at}/2", "trace_id": f"{at}/2"}
    check_log_lengths(record, names | {"span_id": f"{at}/2"})
    return record
