"""Grafana Loki push API, JSON body (`POST /loki/api/v1/push`, formats.md §2).

`{"streams": [{"stream": {labels}, "values": [["<unix ns>", "<line>", {metadata}], ...]}]}`.
Labels become the record's resource, structured metadata its attributes. The service is the first
of the labels `service_name`, `service`, `app`, `job`; the severity comes from a `level`,
`severity` or `detected_level` label or metadata entry, else from the line itself; continuation
lines are folded into the entry they continue (`multiline`).

Loki rejects a whole push when one entry is bad, and so does this parser.
The protobuf (snappy-compressed `logproto.PushRequest`) body is not supported: `is_protobuf`
tells the caller to answer 415 rather than misread it.
"""

from __future__ import annotations

from typing import Any

from premortem.domain import LogRecord
from premortem.errors import IngestError
from premortem.ingest.fields import (
    check_log_lengths,
    expect_array,
    expect_object,
    load_json,
    string_map,
    type_name,
)
from premortem.ingest.multiline import assemble
from premortem.ingest.severity import severity_number

# 2255-03-14: a round bound below 2**63 that a JSON number states exactly (clients and schema
# tools read large integers as doubles), the same for strings and numbers.
MAX_ENTRY_NS = 9 * 10**18
SERVICE_LABELS = ("service_name", "service", "app", "job")
LEVEL_KEYS = ("level", "severity", "detected_level")


def is_protobuf(content_type: str | None) -> bool:
    """Loki reads any body that is not declared JSON as snappy-compressed protobuf."""
    return (content_type or "").split(";")[0].strip().lower() != "application/json"


def parse_push(data: bytes | str | Any, *, now_ns: int = 0) -> list[LogRecord]:
    """Every entry of a Loki JSON push request; raises on the first bad entry."""
    del now_ns  # Loki entries always carry their own time
    request = expect_object(load_json(data), "")
    if "streams" not in request:
        raise IngestError("is required", pointer="/streams")
    records: list[LogRecord] = []
    for s, stream in enumerate(expect_array(request["streams"], "/streams")):
        at = f"/streams/{s}"
        stream = expect_object(stream, at)
        if "stream" not in stream:
            raise IngestError("is required", pointer=f"{at}/stream")
        labels = string_map(stream["stream"], f"{at}/stream")
        values = expect_array(stream.get("values"), f"{at}/values")
        service = next((labels[k] for k in SERVICE_LABELS if labels.get(k)), "")
        for v, entry in enumerate(values):
            records.append(_entry(entry, labels, service, at=f"{at}/values/{v}"))
    return assemble(records)


def _entry(entry: Any, labels: dict[str, str], service: str, *, at: str) -> LogRecord:
    if type(entry) is not list or not 2 <= len(entry) <= 3:
        raise IngestError(
            f"must be [timestamp, line] or [timestamp, line, metadata], got {type_name(entry)}",
            pointer=at,
        )
    stamp, line = entry[0], entry[1]
    if type(stamp) is str and stamp.isascii() and stamp.isdigit() and len(stamp) <= 19:
        time_ns = int(stamp)
    elif type(stamp) is int and stamp >= 0:
        time_ns = stamp
    elif type(stamp) is float and stamp.is_integer() and stamp >= 0:
        time_ns = int(stamp)  # JSON does not tell 42.0 from 42
    else:
        time_ns = MAX_ENTRY_NS + 1
    if time_ns > MAX_ENTRY_NS:
        raise IngestError(
            f"must be Unix nanoseconds as a string of digits (at most {MAX_ENTRY_NS}), "
            f"got {stamp!r:.64}",
            pointer=f"{at}/0",
        )
    if type(line) is not str:
        raise IngestError(f"must be a string, got {type_name(line)}", pointer=f"{at}/1")
    metadata = string_map(entry[2], f"{at}/2") if len(entry) == 3 else {}
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
