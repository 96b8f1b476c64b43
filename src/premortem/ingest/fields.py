"""Reading decoded JSON field by field, with errors that point at the offending field.

Every parser in this package reads its input through these helpers so that error messages and JSON
pointers look the same whatever the format. Times come out as integer nanoseconds since the epoch.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import orjson
from pydantic import ValidationError

from premortem.domain import JSON
from premortem.errors import IngestError

_NS = 1_000_000_000
MAX_LISTED_ERRORS = 100  # a batch's bad records named in one answer (each_record)
T = TypeVar("T")


def pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901) from path segments, escaping `~` and `/` in keys."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def load_json(data: bytes | str | Any) -> Any:
    """Decode bytes or text as JSON; anything else is taken as already decoded."""
    if not isinstance(data, bytes | bytearray | memoryview | str):
        return data
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise IngestError(f"invalid JSON: {exc}") from exc


def load_documents(data: bytes | str | Any) -> tuple[list[Any], bool]:
    """A JSON array, a single JSON value or JSON lines (NDJSON), as (items, is_batch).

    A single value is not a batch: its errors point at `/field`, a batch's at `/3/field`. NDJSON
    is only tried when the body is not one JSON value, so a pretty-printed object still reads.
    """
    if not isinstance(data, bytes | bytearray | memoryview | str):
        return (data, True) if isinstance(data, list) else ([data], False)
    raw = bytes(data) if not isinstance(data, str) else data.encode()
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if not raw.lstrip().startswith(b"{"):
            raise IngestError(f"invalid JSON: {exc}") from exc
        return _json_lines(raw), True
    return (doc, True) if isinstance(doc, list) else ([doc], False)


def _json_lines(raw: bytes) -> list[Any]:
    lines = [line for line in raw.split(b"\n") if line.strip()]
    try:  # one orjson call for the whole body is several times faster than one per line
        items = orjson.loads(b"[" + b",".join(lines) + b"]")
    except orjson.JSONDecodeError:
        items = None
    if isinstance(items, list) and len(items) == len(lines):
        return items
    return _json_lines_one_by_one(raw)  # finds and names the bad line


def _json_lines_one_by_one(raw: bytes) -> list[Any]:
    items: list[Any] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise IngestError(
                f"invalid JSON on line {number}: {exc}", pointer=pointer(len(items))
            ) from exc
    return items


MAX_DEPTH = 64
"""How deep a stored JSON value (attributes, data, a document) may nest. Databases and encoders
have their own limits (orjson writes at most 254 levels), and no honest input comes close."""


def too_deep(value: Any, *, limit: int = MAX_DEPTH) -> str | None:
    """The pointer (relative to `value`) of a container nested deeper than `limit`, else None.

    `value` itself is level 1 when it is an object or array.

    >>> too_deep({"a": [[1]]}, limit=2)
    '/a/0'
    """
    if type(value) is not dict and type(value) is not list:
        return None
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, at, depth = stack.pop()
        if depth > limit:
            return at
        children = node.items() if type(node) is dict else enumerate(node)
        for key, child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, at + pointer(key), depth + 1))
    return None


def check_depth(value: Any, at: str, *, limit: int = MAX_DEPTH) -> None:
    """Raise `IngestError` at the first container of `value` nested deeper than `limit`."""
    where = too_deep(value, limit=limit)
    if where is not None:
        raise IngestError(f"nested deeper than {limit} levels", pointer=at + where)


def check_values_depth(mapping: JSON, at: str) -> None:
    """`check_depth` for a map whose values are nearly always scalars (attributes): the common
    case costs one pass over the values."""
    for value in mapping.values():
        if type(value) is dict or type(value) is list:
            check_depth(mapping, at)
            return


# The longest text each indexed field may hold (the store's column sizes).
LOG_LIMITS = (
    ("id", 64),
    ("service", 256),
    ("severity_text", 32),
    ("trace_id", 32),
    ("span_id", 16),
)
EVENT_LIMITS = (
    ("id", 64),
    ("type", 256),
    ("source", 512),
    ("subject", 512),
    ("service", 256),
    ("external_id", 512),  # a CloudEvent's `id`, a Kubernetes event's `metadata.uid`
)


def check_lengths(record: Any, limits: tuple[tuple[str, int], ...], names: Any = None) -> None:
    """Raise `IngestError` at the first field of `record` longer than its limit; `names` maps a
    field to the pointer of the input it came from (default `/field`)."""
    for field, limit in limits:
        value = getattr(record, field)
        if value is not None and len(value) > limit:
            at = (names or {}).get(field, "/" + field)
            raise IngestError(f"must be at most {limit} characters, got {len(value)}", pointer=at)


def check_log_lengths(record: Any, names: Any = None) -> None:
    """`check_lengths` for a log record, at the cost of a few comparisons when all is well."""
    if (
        len(record.service) > 256
        or len(record.severity_text) > 32
        or len(record.id) > 64
        or (record.trace_id is not None and len(record.trace_id) > 32)
        or (record.span_id is not None and len(record.span_id) > 16)
    ):
        check_lengths(record, LOG_LIMITS, names)


def type_name(value: Any) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def expect_object(value: Any, at: str, *, what: str = "an object") -> JSON:
    if not isinstance(value, dict):
        raise IngestError(f"must be {what}, got {type_name(value)}", pointer=at)
    return value


def optional_object(doc: Mapping[str, Any], key: str, at: str) -> JSON:
    """`doc[key]` when it is an object, {} when absent or null; `at` points at `doc`."""
    value = doc.get(key)
    return {} if value is None else expect_object(value, f"{at}/{key}")


def expect_array(value: Any, at: str) -> list[Any]:
    if not isinstance(value, list):
        raise IngestError(f"must be an array, got {type_name(value)}", pointer=at)
    return value


def optional_str(doc: Mapping[str, Any], key: str, at: str) -> str | None:
    value = doc.get(key)
    if value is None or isinstance(value, str):
        return value
    raise IngestError(f"must be a string, got {type_name(value)}", pointer=f"{at}/{key}")


def required_str(doc: Mapping[str, Any], key: str, at: str) -> str:
    value = doc.get(key)
    if isinstance(value, str) and value:
        return value
    if key not in doc or value is None:
        raise IngestError("is required", pointer=f"{at}/{key}")
    if isinstance(value, str):
        raise IngestError("must not be empty", pointer=f"{at}/{key}")
    raise IngestError(f"must be a string, got {type_name(value)}", pointer=f"{at}/{key}")


def string_map(value: Any, at: str) -> dict[str, str]:
    """A flat object of string values (labels, structured metadata)."""
    mapping = expect_object(value, at)
    for key, item in mapping.items():
        if not isinstance(item, str):
            raise IngestError(f"must be a string, got {type_name(item)}", pointer=at + pointer(key))
    return mapping


# --------------------------------------------------------------------------- time

_seconds_cache: dict[str, int] = {}


def _epoch_seconds(prefix: str) -> int:
    """Epoch seconds of 'YYYY-MM-DDTHH:MM:SS' read as UTC, remembered: batches share seconds."""
    if len(prefix) != 19 or prefix[10] not in "Tt ":
        raise ValueError("not an RFC 3339 date-time")
    if prefix[4] != "-" or prefix[7] != "-" or prefix[13] != ":" or prefix[16] != ":":
        raise ValueError("not an RFC 3339 date-time")
    fields = (prefix[0:4], prefix[5:7], prefix[8:10], prefix[11:13], prefix[14:16], prefix[17:19])
    if not all(f.isascii() and f.isdigit() for f in fields):
        raise ValueError("not an RFC 3339 date-time")
    year, month, day, hour, minute, second = (int(f) for f in fields)
    if not 1678 <= year <= 2261:  # what fits in signed 64-bit nanoseconds
        raise ValueError("year out of range")
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        raise ValueError("date out of range")
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError("time out of range")
    seconds = calendar.timegm((year, month, day, hour, minute, min(second, 59), 0, 0, 0))
    if len(_seconds_cache) > 4096:
        _seconds_cache.clear()
    _seconds_cache[prefix] = seconds
    return seconds


def rfc3339_to_ns(text: str) -> int:
    """Nanoseconds of an RFC 3339 date-time; ValueError if it is not one.

    Fractions keep nanosecond precision (digits past 9 are dropped). A missing offset is read as
    UTC, because Chaos Toolkit and Python's `utcnow().isoformat()` write naive UTC times.
    """
    seconds = _seconds_cache.get(text[:19])
    if seconds is None:
        seconds = _epoch_seconds(text[:19])
    zone = text[19:]
    fraction = 0
    if zone[:1] in (".", ","):
        if zone[-1:] in ("Z", "z"):
            digits, zone = zone[1:-1], "Z"
        elif len(zone) > 6 and zone[-6] in "+-":
            digits, zone = zone[1:-6], zone[-6:]
        else:
            digits, zone = zone[1:], ""
        if not (digits.isascii() and digits.isdigit()):
            raise ValueError("bad fraction of a second")
        fraction = int(digits[:9].ljust(9, "0"))
    if zone in ("Z", "z", ""):
        return seconds * _NS + fraction
    if len(zone) == 6 and zone[0] in "+-" and zone[3] == ":" and (zone[1:3] + zone[4:]).isdigit():
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        return (seconds - offset if zone[0] == "+" else seconds + offset) * _NS + fraction
    raise ValueError("bad time zone offset")


def epoch_to_ns(value: float) -> int:
    """Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude.

    Shippers disagree (Fluent Bit sends float seconds, JavaScript milliseconds, OTLP nanoseconds);
    a value in nanoseconds below 1e17 would fall in 1973, so the magnitude is a safe tell.
    """
    magnitude = abs(value)
    if magnitude < 1e11:
        unit = _NS
    elif magnitude < 1e14:
        unit = 1_000_000
    elif magnitude < 1e17:
        unit = 1000
    else:
        return int(value)
    if isinstance(value, int):
        return value * unit
    # A float's fraction is only good to about a microsecond at these magnitudes; rounding it
    # there (to whole microseconds) keeps 1714564800.25 from coming out as ...249999872.
    whole = int(value)
    return whole * unit + round((value - whole) * unit / 1000) * 1000


MAX_NS = 2**63 - 1


def _in_range(ns: int, at: str) -> int:
    if not -MAX_NS <= ns <= MAX_NS:
        raise IngestError("timestamp out of range (beyond signed 64-bit nanoseconds)", pointer=at)
    return ns


def timestamp_ns(value: Any, at: str) -> int:
    """A timestamp field: RFC 3339 text, an epoch number, or a string of digits."""
    if isinstance(value, str):
        if value.isascii() and value.isdigit():
            return _in_range(epoch_to_ns(int(value)), at)
        try:
            return rfc3339_to_ns(value)
        except ValueError as exc:
            raise IngestError(f"invalid timestamp {value[:64]!r}: {exc}", pointer=at) from exc
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):
            raise IngestError("invalid timestamp: not a finite number", pointer=at)
        return _in_range(epoch_to_ns(value), at)
    raise IngestError(
        f"must be an RFC 3339 string or epoch number, got {type_name(value)}", pointer=at
    )


def json_text(value: Any) -> str:
    """A structured value rendered as compact JSON text (for log bodies)."""
    return orjson.dumps(value).decode()


def validation_error(exc: ValidationError, *, at: str = "", doc: Any = None) -> IngestError:
    """Every pydantic error as one IngestError (the first leads), each pointing at its field.

    With the validated `doc`, a location is cut where it leaves the document: pydantic names the
    member of a union it tried (`/expected_outcome/str`), which is no field a client sent; the
    several members' errors at one field are then listed once."""
    errors: dict[str, IngestError] = {}
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        if doc is not None:
            loc = _within(doc, loc, missing=error["type"] == "missing")
        where = at + pointer(*loc)
        errors.setdefault(where, IngestError(str(error["msg"]), pointer=where))
    return IngestError.combine(list(errors.values()))


def _within(doc: Any, loc: tuple[str | int, ...], *, missing: bool) -> tuple[str | int, ...]:
    """The longest prefix of `loc` that is a path in `doc`; for a `missing` error, with the
    required key that is not there."""
    node = doc
    for depth, step in enumerate(loc):
        if isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
            continue
        if isinstance(node, dict) and step in node:
            node = node[step]
            continue
        required = missing and isinstance(node, dict) and depth == len(loc) - 1
        return loc[: depth + 1] if required else loc[:depth]
    return loc


def checked(errors: list[IngestError], read: Callable[..., T], *args: Any) -> T | None:
    """`read(*args)`, or None with its error added to `errors`: for parsers that name every bad
    field of a record, not only the first."""
    try:
        return read(*args)
    except IngestError as exc:
        errors.append(exc)
        return None


def each_record(
    items: list[Any], parse: Callable[[Any], T], *, batch: bool
) -> Iterator[tuple[int, T]]:
    """`(index, parse(item))` for every item that parses; every item is tried, and the errors of
    those that do not (up to `MAX_LISTED_ERRORS`, each under its `/index`) are raised together
    at the end, so a client learns of all its bad records at once and nothing is stored."""
    errors: list[IngestError] = []
    for index, item in enumerate(items):
        try:
            parsed = parse(item)
        except IngestError as exc:
            errors.append(exc.at(f"/{index}") if batch else exc)
            if len(errors) >= MAX_LISTED_ERRORS:
                break
            continue
        if not errors:
            yield index, parsed
    if errors:
        raise IngestError.combine(errors)


def kubernetes_objects(doc: Any) -> tuple[list[Any], str | None]:
    """The objects of a Kubernetes-style document and the pointer prefix of each: a `List` (or
    any object with `items`, as `kubectl get -o json` prints), a JSON array, or one object
    (prefix None: its errors point into it directly)."""
    if isinstance(doc, dict) and isinstance(doc.get("items"), list):
        return doc["items"], "/items"
    if isinstance(doc, list):
        return doc, ""
    return [doc], None


def without_none(values: JSON) -> JSON:
    """The entries that hold a value."""
    return {k: v for k, v in values.items() if v is not None}


def with_exception(body: str, attributes: Mapping[str, Any]) -> str:
    """The record's text as a file logger writes it: the message, then the exception that
    OpenTelemetry's SDKs put in the `exception.stacktrace` attribute (else `exception.type:
    exception.message`), which `logger.exception(...)` writes below the message in a file.

    JSON loggers' own error fields count the same (`_logged_error`: pino's `err`, zap's `error`).
    The body alone is only the message ("Error handling request"): a trial's Redis failures,
    whose exception said `OutOfMemoryError: OOM command not allowed`, were named "handling
    request". The attributes stay; the template is the message's (the first line) as before.
    Native records with these attributes read the same (pages of `GET /api/v1/logs` replayed
    from a server that stored OTLP records).
    """
    trace = attributes.get("exception.stacktrace")
    if isinstance(trace, str) and trace.strip():
        extra = trace.strip("\n")
    elif (logged := _logged_error(attributes)) is not None:
        extra = logged
    else:
        kind, message = attributes.get("exception.type"), attributes.get("exception.message")
        if not isinstance(kind, str) or not kind:
            return body
        extra = f"{kind}: {message}" if isinstance(message, str) and message else kind
    if extra in body:
        return body
    return f"{body}\n{extra}" if body else extra


ERROR_KEYS = ("err", "error")
# The attributes `with_exception` reads: a record without any of them reads as it was sent.
EXCEPTION_KEYS = frozenset({"exception.stacktrace", "exception.type", *ERROR_KEYS})


def _logged_error(attributes: Mapping[str, Any]) -> str | None:
    """The error a JSON logger put beside its message: pino's and bunyan's `err` object (its
    `stack`, else `type: message`), zap's and logrus's `error` string. A trial's API logged "could
    not enqueue order" with `err.message` "broker rejected publish (nack)"."""
    for key in ERROR_KEYS:
        err = attributes.get(key)
        if isinstance(err, str) and err.strip():
            return err.strip("\n")
        if isinstance(err, dict):
            stack, kind, message = err.get("stack"), err.get("type"), err.get("message")
            if isinstance(stack, str) and stack.strip():
                return stack.strip("\n")
            if isinstance(message, str) and message:
                return f"{kind}: {message}" if isinstance(kind, str) and kind else message
    return None
