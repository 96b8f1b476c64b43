"""OTLP/HTTP logs (`ExportLogsServiceRequest`), in proto3 JSON or binary protobuf.

OTLP answers a batch with some bad records by accepting the good ones and reporting how many it
rejected (partial success), so record-level problems are counted in `OtlpResult`, not raised. Only
a body that cannot be read as a request at all raises `IngestError`.

JSON quirks handled here (see formats.md §1): hex trace/span ids (an invalid one means "no
trace"), 64-bit integers as decimal strings, `AnyValue` wrappers, and the pre-1.0
`instrumentationLibraryLogs` spelling of `scopeLogs`.

A record with neither severity number nor text gets the level its message starts with, and
continuation lines are folded into the record they continue (`multiline`).

premortem's records have no instrumentation scope, so its name and version become the attributes
`otel.scope.name` and `otel.scope.version`, as the spec requires of non-OTLP formats ("Mapping to
non-OTLP"): the Python SDK's logging bridge names the scope after the logger, which is otherwise
lost. An attribute of the record's own with either key wins.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from premortem.domain import JSON, LogRecord, severity_text_from_number
from premortem.errors import IngestError
from premortem.ingest.fields import (
    MAX_LISTED_ERRORS,
    MAX_NS,
    check_log_lengths,
    check_values_depth,
    expect_array,
    expect_object,
    json_text,
    load_json,
    optional_object,
    type_name,
    with_exception,
)
from premortem.ingest.identity import identify_untimed
from premortem.ingest.multiline import assemble
from premortem.ingest.severity import severity_number

_OTLP_NAMES = {"service": "/resource/attributes/service.name", "severity_text": "/severityText"}


@dataclass(slots=True)
class OtlpResult:
    """Accepted records, and what was rejected (reported back as `partialSuccess`)."""

    records: list[LogRecord]
    rejected: int = 0
    error_message: str = ""
    errors: list[IngestError] = field(default_factory=list)


def parse_otlp(body: bytes | JSON, *, content_type: str | None = None, now_ns: int) -> OtlpResult:
    """An OTLP logs request; protobuf unless the content type (or the body) says JSON."""
    if isinstance(body, dict):
        return parse_otlp_json(body, now_ns=now_ns)
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "application/json" or (not media and body.lstrip()[:1] == b"{"):
        return parse_otlp_json(body, now_ns=now_ns)
    return parse_otlp_protobuf(body, now_ns=now_ns)


# --------------------------------------------------------------------------- JSON


def parse_otlp_json(data: bytes | str | JSON, *, now_ns: int) -> OtlpResult:
    request = expect_object(load_json(data), "")
    result = OtlpResult(records=[])
    for r, resource_logs in enumerate(
        expect_array(_repeated(request.get("resourceLogs")), "/resourceLogs")
    ):
        at = f"/resourceLogs/{r}"
        resource_logs = expect_object(resource_logs, at)
        resource_attributes = optional_object(resource_logs, "resource", at).get("attributes")
        resource = _located(
            _attributes_json,
            [] if resource_attributes is None else resource_attributes,
            f"{at}/resource/attributes",
        )
        check_values_depth(resource, f"{at}/resource/attributes")
        key = "scopeLogs" if "scopeLogs" in resource_logs else "instrumentationLibraryLogs"
        for s, scope_logs in enumerate(
            expect_array(_repeated(resource_logs.get(key)), f"{at}/{key}")
        ):
            scope_at = f"{at}/{key}/{s}"
            records = _repeated(expect_object(scope_logs, scope_at).get("logRecords"))
            _read_records(
                expect_array(records, f"{scope_at}/logRecords"),
                resource,
                result,
                scope=_scope_json(scope_logs),
                at=f"{scope_at}/logRecords",
                now_ns=now_ns,
            )
    return _summarise(result, now_ns)


def _repeated(value: Any) -> Any:
    """proto3 JSON: a null or missing repeated field is empty."""
    return [] if value is None else value


def _scope_json(scope_logs: JSON) -> JSON:
    """The scope's attributes for its records; a malformed scope is ignored, as it always was."""
    scope = scope_logs.get("scope", scope_logs.get("instrumentationLibrary"))
    if type(scope) is not dict:
        return {}
    return _scope_attributes(scope.get("name"), scope.get("version"))


def _scope_attributes(name: Any, version: Any) -> JSON:
    attributes: JSON = {}
    if name and type(name) is str:
        attributes["otel.scope.name"] = name
    if version and type(version) is str:
        attributes["otel.scope.version"] = version
    return attributes


def _read_records(
    records: list[Any], resource: JSON, result: OtlpResult, *, scope: JSON, at: str, now_ns: int
) -> None:
    service = resource.get("service.name")
    service = service if isinstance(service, str) else ""
    for index, record in enumerate(records):
        try:
            parsed = _record_json(record, resource, service, now_ns, scope=scope)
            check_log_lengths(parsed, _OTLP_NAMES)
            result.records.append(parsed)
        except IngestError as exc:
            result.rejected += 1
            if len(result.errors) < MAX_LISTED_ERRORS:
                result.errors.append(_every_error(record, exc).at(f"{at}/{index}"))


def _record_json(
    record: Any, resource: JSON, service: str, now_ns: int, *, scope: JSON
) -> LogRecord:
    """One JSON log record. Pointers are built only when something is wrong (hot path)."""
    if type(record) is not dict:
        raise IngestError(f"a log record must be an object, got {type_name(record)}")
    get = record.get
    time_ns = _uint64(get("timeUnixNano"), "/timeUnixNano")
    observed_ns = _uint64(get("observedTimeUnixNano"), "/observedTimeUnixNano")
    number = _severity_number(get("severityNumber", 0))
    text = _severity_text(get("severityText"))
    attributes = _record_attributes(get("attributes"))
    for key, value in scope.items():
        attributes.setdefault(key, value)
    event_name = get("eventName")
    if event_name and type(event_name) is str:
        attributes["event.name"] = event_name
    body = get("body")
    if body is not None:
        body = _body_text(_located(_any_value, body, "/body"))
    return LogRecord(
        time_ns or observed_ns or now_ns,
        with_exception(body or "", attributes),
        service,
        number or severity_number(text),
        text or severity_text_from_number(number),
        observed_ns,
        attributes,
        resource,
        _hex_id(get("traceId"), 32),
        _hex_id(get("spanId"), 16),
    )


def _severity_number(number: Any) -> int:
    if type(number) is float and number.is_integer():
        number = int(number)  # JSON does not tell 13.0 from 13 (JSON Schema: both integers)
    if type(number) is not int or not 0 <= number <= 24:
        raise IngestError(
            f"must be an integer from 0 to 24, got {number!r}", pointer="/severityNumber"
        )
    return number


def _severity_text(text: Any) -> str:
    text = text or ""
    if type(text) is not str:
        raise IngestError(f"must be a string, got {type_name(text)}", pointer="/severityText")
    return text


def _record_attributes(attributes: Any) -> JSON:
    attributes = {} if attributes is None else _located(_attributes_json, attributes, "/attributes")
    check_values_depth(attributes, "/attributes")
    return attributes  # type: ignore[no-any-return]


def _every_error(record: Any, first: IngestError) -> IngestError:
    """All that is wrong with a bad record, not only what stopped `_record_json` (the slow path,
    taken only for records that fail): each field is checked on its own."""
    if type(record) is not dict:
        return first
    get = record.get
    checks: list[Callable[[], Any]] = [
        lambda: _uint64(get("timeUnixNano"), "/timeUnixNano"),
        lambda: _uint64(get("observedTimeUnixNano"), "/observedTimeUnixNano"),
        lambda: _severity_number(get("severityNumber", 0)),
        lambda: _severity_text(get("severityText")),
        lambda: _record_attributes(get("attributes")),
        lambda: get("body") is None or _located(_any_value, get("body"), "/body"),
    ]
    errors = []
    for check in checks:
        try:
            check()
        except IngestError as exc:
            errors.append(exc)
    return IngestError.combine(errors) if errors else first


def _located(read: Any, value: Any, at: str) -> Any:
    """`read(value)`, with errors moved under `at`."""
    try:
        return read(value)
    except IngestError as exc:
        raise exc.at(at) from None


def _uint64(value: Any, at: str) -> int:
    """A fixed64 field: a decimal string or a JSON number."""
    if value is None:
        return 0
    if type(value) is str and value.isascii() and value.isdigit() and int(value) <= MAX_NS:
        return int(value)
    if type(value) is int and 0 <= value <= MAX_NS:
        return value
    raise IngestError(
        f"must be nanoseconds as an integer below 2^63, got {value!r:.64}", pointer=at
    )


def _hex_id(value: Any, length: int) -> str | None:
    """A trace or span id; anything but `length` hex digits, not all zero, means none."""
    if type(value) is not str or len(value) != length:
        return None
    try:
        if not any(bytes.fromhex(value)):
            return None  # all zeros
    except ValueError:
        return None
    return value.lower()


def _body_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json_text(value)


def _attributes_json(values: Any) -> JSON:
    """A KeyValue list as a dict; errors point inside the list (`/1/value/intValue`)."""
    attributes: JSON = {}
    for index, pair in enumerate(expect_array(values, "")):
        if type(pair) is not dict:
            raise IngestError(f"must be an object, got {type_name(pair)}", pointer=f"/{index}")
        key = pair.get("key")
        if type(key) is not str:
            raise IngestError(f"must be a string, got {type_name(key)}", pointer=f"/{index}/key")
        value = pair.get("value")
        if type(value) is dict and type(value.get("stringValue")) is str:
            attributes[key] = value["stringValue"]  # the common cases, without a call
        elif (
            type(value) is dict
            and type(value.get("intValue")) is str
            and value["intValue"].isdigit()
        ):
            attributes[key] = int(value["intValue"])
        elif value is None:
            attributes[key] = None
        else:
            attributes[key] = _located(_any_value, value, f"/{index}/value")
    return attributes


def _any_value(value: Any) -> Any:
    """Unwrap an OTLP `AnyValue` into plain JSON-able Python (bytes stay base64 text)."""
    if type(value) is not dict:
        raise IngestError(f"must be an AnyValue object, got {type_name(value)}")
    if "stringValue" in value:
        return _typed(value["stringValue"], str, "/stringValue")
    if "boolValue" in value:
        return _typed(value["boolValue"], bool, "/boolValue")
    if "intValue" in value:
        return _int(value["intValue"])
    if "doubleValue" in value:
        return _double(value["doubleValue"], "/doubleValue")
    if "arrayValue" in value:
        array = expect_object(value["arrayValue"], "/arrayValue")
        items = expect_array(array.get("values", []), "/arrayValue/values")
        return [
            _located(_any_value, item, f"/arrayValue/values/{i}") for i, item in enumerate(items)
        ]
    if "kvlistValue" in value:
        kvlist = expect_object(value["kvlistValue"], "/kvlistValue")
        return _located(_attributes_json, kvlist.get("values", []), "/kvlistValue/values")
    if "bytesValue" in value:
        return _typed(value["bytesValue"], str, "/bytesValue")
    return None  # an empty AnyValue is valid and means "no value"


def _int(raw: Any) -> int:
    if type(raw) is int:
        return raw
    if type(raw) is str and raw.lstrip("-").isdigit() and raw.isascii():
        return int(raw)
    raise IngestError(f"must be an integer, got {raw!r:.64}", pointer="/intValue")


def _typed(value: Any, kind: type, at: str) -> Any:
    if type(value) is not kind:
        raise IngestError(f"must be a {kind.__name__}, got {type_name(value)}", pointer=at)
    return value


def _double(value: Any, at: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    raise IngestError(f"must be a number, got {type_name(value)}", pointer=at)


def _summarise(result: OtlpResult, now_ns: int) -> OtlpResult:
    # A record with neither time was stamped now_ns: its id must not depend on it.
    records = result.records
    identify_untimed(records, [i for i, r in enumerate(records) if r.time_ns == now_ns])
    result.records = assemble(records)
    if result.rejected:
        first = result.errors[0]
        result.error_message = f"{result.rejected} log records rejected; first: {first}"
    return result


# --------------------------------------------------------------------------- protobuf


def parse_otlp_protobuf(body: bytes, *, now_ns: int) -> OtlpResult:
    try:
        request = ExportLogsServiceRequest.FromString(body)
    except DecodeError as exc:
        raise IngestError(f"invalid OTLP protobuf: {exc}") from exc
    result = OtlpResult(records=[])
    for r, resource_logs in enumerate(request.resource_logs):
        resource = _attributes_pb(resource_logs.resource.attributes)
        service = resource.get("service.name")
        service = service if isinstance(service, str) else ""
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            scope = _scope_attributes(scope_logs.scope.name, scope_logs.scope.version)
            for index, record in enumerate(scope_logs.log_records):
                if max(record.time_unix_nano, record.observed_time_unix_nano) > MAX_NS:
                    result.rejected += 1  # the only field protobuf decoding does not check for us
                    result.errors.append(
                        IngestError(
                            "must be below 2^63 nanoseconds",
                            pointer=f"/resourceLogs/{r}/scopeLogs/{s}/logRecords/{index}"
                            "/timeUnixNano",
                        )
                    )
                    continue
                try:
                    parsed = _record_pb(record, resource, service, now_ns, scope=scope)
                    check_log_lengths(parsed, _OTLP_NAMES)
                    result.records.append(parsed)
                except IngestError as exc:
                    result.rejected += 1
                    result.errors.append(
                        exc.at(f"/resourceLogs/{r}/scopeLogs/{s}/logRecords/{index}")
                    )
    del result.errors[MAX_LISTED_ERRORS:]
    return _summarise(result, now_ns)


def _record_pb(record: Any, resource: JSON, service: str, now_ns: int, *, scope: JSON) -> LogRecord:
    number = int(record.severity_number)
    text = record.severity_text
    attributes = _attributes_pb(record.attributes)
    check_values_depth(attributes, "/attributes")
    for key, value in scope.items():
        attributes.setdefault(key, value)
    if record.event_name:
        attributes["event.name"] = record.event_name
    body = _any_value_pb(record.body) if record.HasField("body") else ""
    return LogRecord(
        time_ns=record.time_unix_nano or record.observed_time_unix_nano or now_ns,
        body=with_exception(_body_text(body), attributes),
        service=service,
        severity_number=number or severity_number(text),
        severity_text=text or severity_text_from_number(number),
        observed_ns=record.observed_time_unix_nano,
        attributes=attributes,
        resource=resource,
        trace_id=_hex_id(record.trace_id.hex(), 32),
        span_id=_hex_id(record.span_id.hex(), 16),
    )


def _attributes_pb(pairs: Any) -> JSON:
    return {pair.key: _any_value_pb(pair.value) for pair in pairs}


def _any_value_pb(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_any_value_pb(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes_pb(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)
