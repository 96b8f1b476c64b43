"""premortem's own JSON formats: test runs (the seed shape), log records and events.

Each accepts one JSON object, a JSON array, or JSON lines (NDJSON), as bytes or already decoded.
A batch with one bad record raises `IngestError` pointing at it (`/3/timestamp`); the caller
rejects the whole batch.

The log parser is the hot path of ingestion (hundreds of thousands of records a second), so it
checks types by hand instead of building a pydantic model per record.

>>> [r.severity_number for r in parse_logs(b'{"body": "db timeout", "severity_text": "error"}',
...                                        now_ns=0)]
[17]
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from premortem.domain import (
    JSON,
    Event,
    LogRecord,
    TestRun,
    severity_text_from_number,
)
from premortem.errors import IngestError
from premortem.ingest.fields import (
    EVENT_LIMITS,
    EXCEPTION_KEYS,
    MAX_NS,
    check_depth,
    check_lengths,
    check_log_lengths,
    check_values_depth,
    each_record,
    expect_object,
    json_text,
    load_documents,
    optional_str,
    required_str,
    rfc3339_to_ns,
    timestamp_ns,
    type_name,
    validation_error,
    with_exception,
)
from premortem.ingest.identity import identify_untimed
from premortem.ingest.multiline import assemble
from premortem.ingest.severity import LEVEL_FIELDS, PINO_LEVELS, severity_number
from premortem.ports import StoredTestRun

# A validated test run and its document in the native shape (stored and read back as is).
ParsedTestRun = StoredTestRun


# --------------------------------------------------------------------------- test runs


def parse_test_runs(data: bytes | str | Any, *, now_ns: int = 0) -> list[ParsedTestRun]:
    """Native test runs (one object or a list); each document is kept exactly as sent."""
    del now_ns  # the native format carries its own timestamp; the argument keeps parsers uniform
    items, batch = load_documents(data)
    return [
        run
        for _, run in each_record(
            items, lambda item: validate_test_run(expect_object(item, "")), batch=batch
        )
    ]


def validate_test_run(doc: JSON, *, at: str = "") -> ParsedTestRun:
    """Validate one native test-run document (also used by the other test-run formats)."""
    check_depth(doc, at)
    try:
        return ParsedTestRun(TestRun.model_validate(doc), doc)
    except ValidationError as exc:
        raise validation_error(exc, at=at, doc=doc) from exc


# The native run's fields a tool's own report cannot give (which fault, when, when it ended):
# readers of such reports (k6's setup_data, the Locust body) take them as sent.
NATIVE_RUN_FIELDS = ("injected_faults", "ended_at", "duration_s", "failure_time", "services")

# --------------------------------------------------------------------------- logs

# Spellings of loggers and shippers (Elastic, Go's zap and slog, logrus, pino, Serilog's compact
# JSON, Python's logging), read when the native key is absent. Unread, a record lost its time
# (stamped on arrival) and its level without a word.
_BODY_ALIASES = ("message", "log", "msg", "@m")
_TIME_ALIASES = ("@timestamp", "time", "date", "ts", "@t", "datetime")
_LEVEL_ALIASES = LEVEL_FIELDS
_SERVICE_ALIASES = ("service.name", "svc", "app", "logger")
# pino / bunyan: `level` as a number, the logger's `name` the service (read only on a line that
# carries their `pid` and `hostname` too: elsewhere `name` is anybody's field)
TIME_FIELDS = ("timestamp", *_TIME_ALIASES)
_MIN_EPOCH_NS = 10**17  # below this an epoch number is in a coarser unit (fields.epoch_to_ns)
# Keys read by the parser; any other top-level key is kept as an attribute.
_LOG_KEYS = frozenset(
    {
        "timestamp",
        "observed_timestamp",
        "service",
        "severity_text",
        "severity_number",
        "level",
        "body",
        "attributes",
        "resource",
        "trace_id",
        "span_id",
        "id",
        "template_id",
        *_BODY_ALIASES,
        *_TIME_ALIASES,
    }
)


def parse_logs(data: bytes | str | Any, *, now_ns: int) -> list[LogRecord]:
    """Native log records: `{"timestamp", "service", "severity_text", "severity_number", "body",
    "attributes", "trace_id", "span_id"}`; only `body` is required.

    `timestamp` is RFC 3339 or an epoch number (or digit string) and defaults to `now_ns`.
    Shipper spellings are understood when the native key is absent (`_BODY_ALIASES`,
    `_TIME_ALIASES`, `_LEVEL_ALIASES`, `_SERVICE_ALIASES`: `msg`, `ts`, `lvl`, `service.name`, …).
    A record without a level gets the one its message starts with, and continuation lines are
    folded into the record they continue (`premortem.ingest.multiline`).
    """
    items, batch = load_documents(data)
    records: list[LogRecord] = []
    append = records.append
    untimed: list[int] = []
    for index, record in each_record(items, lambda item: log_record(item, now_ns), batch=batch):
        item = items[index]
        if record.time_ns == now_ns and _untimed(item, _LOG_TIME_KEYS):
            untimed.append(index)
        append(record)
    identify_untimed(records, untimed)
    return assemble(records)


_LOG_TIME_KEYS = ("timestamp", *_TIME_ALIASES, "id")


def _untimed(item: JSON, keys: tuple[str, ...]) -> bool:
    """Whether `item` has none of `keys` (a time or an id of its own)."""
    return all(item.get(key) is None for key in keys)


def log_record(item: Any, now_ns: int) -> LogRecord:
    """One native log record; errors point inside the record (`/timestamp`).

    Written for speed: the common shape (string body, RFC 3339 time, severity text, plain
    attributes) is checked inline with `type(x) is` tests; anything else takes a slower helper.
    """
    if type(item) is not dict:
        raise IngestError(f"a log record must be an object, got {type_name(item)}")
    get = item.get
    body = get("body")
    if type(body) is not str:
        body = _body(item, body)
    stamp = get("timestamp")
    if type(stamp) is int and _MIN_EPOCH_NS <= stamp <= MAX_NS:
        time_ns = stamp  # epoch nanoseconds, the other common shape, taken as is
    else:
        try:
            time_ns = rfc3339_to_ns(stamp) if type(stamp) is str else _time(item, now_ns)
        except ValueError:
            time_ns = _time(item, now_ns)
    text = get("severity_text")
    if type(text) is str and "severity_number" not in item:
        number = _SEVERITY_NUMBERS[text]
    else:
        number, text = _severity(item)
    attributes = get("attributes")
    if type(attributes) is not dict:
        attributes = _attributes(item, attributes)
    if not _LOG_KEYS.issuperset(item):
        attributes = {k: v for k, v in item.items() if k not in _LOG_KEYS} | attributes
    if attributes:
        check_values_depth(attributes, "/attributes")
        if not EXCEPTION_KEYS.isdisjoint(attributes):
            body = with_exception(body, attributes)
    service = get("service")
    observed = get("observed_timestamp")
    resource = get("resource")
    trace_id = get("trace_id")
    span_id = get("span_id")
    record_id = get("id")
    record = LogRecord(
        time_ns,
        body,
        service if type(service) is str else _service(item),
        number,
        text,
        0 if observed is None else timestamp_ns(observed, "/observed_timestamp"),
        attributes,
        _resource(item) if resource is not None else {},
        None if trace_id is None else _hex_id(item, "trace_id"),
        None if span_id is None else _hex_id(item, "span_id"),
        record_id if type(record_id) is str else _optional_text(item, "id") or "",
    )
    check_log_lengths(record)
    return record


class _SeverityNumbers(dict[str, int]):
    """Severity text -> number, filled on first sight (a batch repeats a handful of levels)."""

    def __missing__(self, text: str) -> int:
        if len(self) > 256:
            self.clear()
        number = self[text] = severity_number(text)
        return number


_SEVERITY_NUMBERS = _SeverityNumbers()


def _attributes(item: JSON, value: Any) -> JSON:
    if value is None:
        return {}
    raise _wrong_type("attributes", value, "an object")


def _wrong_type(key: str, value: Any, expected: str) -> IngestError:
    return IngestError(f"must be {expected}, got {type_name(value)}", pointer=f"/{key}")


def _body(item: JSON, body: Any) -> str:
    key = "body"
    if body is None:
        key = next((k for k in _BODY_ALIASES if k in item), "body")
        body = item.get(key)
    if isinstance(body, str):
        return body
    if isinstance(body, dict | list):
        return json_text(body)  # structured bodies are kept as compact JSON text
    if body is None:
        raise IngestError("is required", pointer="/body")
    raise _wrong_type(key, body, "a string or a JSON object")


def _service(item: JSON) -> str:
    if item.get("service") is not None:
        return _optional_text(item, "service") or ""
    named = next((v for k in _SERVICE_ALIASES if type(v := item.get(k)) is str), "")
    if not named and type(item.get("name")) is str and "pid" in item and "hostname" in item:
        return str(item["name"])  # pino's / bunyan's logger name
    return named


def _time(item: JSON, now_ns: int) -> int:
    value = item.get("timestamp")
    key = "timestamp"
    if value is None:
        key = next((k for k in _TIME_ALIASES if k in item), "")
        if not key:
            return now_ns
        value = item[key]
    if type(value) is str and len(value) > 19 and not value.isdigit():
        try:  # the common case, without the generic helper's checks
            return rfc3339_to_ns(value)
        except ValueError:
            pass
    return timestamp_ns(value, f"/{key}")


def _severity(item: JSON) -> tuple[int, str]:
    text = item.get("severity_text")
    text_key = "severity_text"
    if text is None:
        # `level` as before (a non-string one is an error); the other spellings only when they
        # hold a level name (a numeric `severity` stays an attribute, as it always did)
        text_key = next(
            (k for k in _LEVEL_ALIASES if (k == "level" and k in item) or type(item.get(k)) is str),
            text_key,
        )
        text = item.get(text_key)
    number = item.get("severity_number")
    if text_key == "level" and type(text) is int and number is None:
        # pino's and bunyan's numeric levels (10 trace … 60 fatal), their default output
        named = PINO_LEVELS.get(text)
        if named is None:
            raise IngestError(
                f"a numeric level must be pino's or bunyan's (10, 20, 30, 40, 50, 60), "
                f"got {text}; or send `severity_number` (0–24)",
                pointer="/level",
            )
        return severity_number(named), named
    if text is not None and type(text) is not str:
        raise _wrong_type(text_key, text, "a string")
    if number is None:
        return (severity_number(text), text) if text else (0, "")
    if type(number) is float and number.is_integer():
        number = int(number)  # JSON does not tell 13.0 from 13 (JSON Schema: both integers)
    if type(number) is not int or not 0 <= number <= 24:
        raise IngestError(
            f"must be an integer from 0 to 24, got {number!r}", pointer="/severity_number"
        )
    return number, text if text else severity_text_from_number(number)


def _optional_text(item: JSON, key: str) -> str | None:
    value = item.get(key)
    if value is None or type(value) is str:
        return value
    raise _wrong_type(key, value, "a string")


def _resource(item: JSON) -> JSON:
    value = item.get("resource")
    if value is None:
        return {}
    if type(value) is not dict:
        raise _wrong_type("resource", value, "an object")
    check_values_depth(value, "/resource")
    return value


def _hex_id(item: JSON, key: str) -> str | None:
    value = item.get(key)
    if value is None or value == "":
        return None
    if type(value) is not str:
        raise _wrong_type(key, value, "a hex string")
    return value.lower()


# --------------------------------------------------------------------------- events


def parse_events(data: bytes | str | Any, *, now_ns: int) -> list[Event]:
    """Native events: `{"time", "type", "source", "subject", "service", "attributes", "data",
    "id"}`; only `type` is required, `time` (or `timestamp`) defaults to `now_ns`."""
    items, batch = load_documents(data)
    events = []
    untimed: list[int] = []
    for index, event in each_record(
        items, lambda item: native_event(item, now_ns=now_ns), batch=batch
    ):
        events.append(event)
        if is_untimed_event(items[index]):
            untimed.append(index)
    identify_untimed(events, untimed)
    return events


def is_untimed_event(item: JSON) -> bool:
    """A native event with neither a time nor an id of its own."""
    return _untimed(item, ("time", "timestamp", "id"))


def native_event(item: Any, *, now_ns: int) -> Event:
    doc = expect_object(item, "")
    check_depth(doc, "")
    time_key = "time" if "time" in doc else "timestamp"
    raw_time = doc.get(time_key)
    attributes = doc.get("attributes")
    if attributes is not None and not isinstance(attributes, dict):
        raise _wrong_type("attributes", attributes, "an object")
    service = optional_str(doc, "service", "") or ""
    event = Event(
        time_ns=now_ns if raw_time is None else timestamp_ns(raw_time, f"/{time_key}"),
        type=required_str(doc, "type", ""),
        source=optional_str(doc, "source", "") or service or "native",
        subject=optional_str(doc, "subject", "") or "",
        service=service,
        attributes=attributes or {},
        data=doc.get("data"),
        id=optional_str(doc, "id", "") or "",
    )
    check_lengths(event, EVENT_LIMITS)
    return event
