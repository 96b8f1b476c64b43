"""Wire formats in, domain records out: one module per format, pure functions, no I/O.

    native        test runs (seed shape), log records (JSON / NDJSON), events
    otlp          OTLP/HTTP logs, JSON and protobuf          -> OtlpResult (partial success)
    loki          Loki push JSON                             -> LogRecord
    syslog        RFC 5424 / RFC 3164 lines                  -> LogRecord
    cloudevents   CloudEvents structured, batch, binary      -> Event
    k8s           Kubernetes Event, EventList, watch stream  -> Event
    events        any of the three event shapes, mixed       -> Event
    chaostoolkit, litmus, chaosmesh, k6, locust              -> ParsedTestRun (run + native doc)
    simulation    SimulationRun JSON                         -> SimulationRun
    severity      level names -> OpenTelemetry numbers; a level read from a message's start
    multiline     a parsed log batch -> continuation lines folded in, missing levels filled

Every error is an `IngestError` whose `pointer` names the offending field (`/3/timestamp`).
Bodies arrive compressed or not; `decompress` undoes Content-Encoding without trusting the sender
about the size.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from premortem.errors import IngestError, PayloadTooLarge
from premortem.ingest import chaosmesh, chaostoolkit, k6, litmus, locust, native
from premortem.ingest.native import ParsedTestRun

DEFAULT_LIMIT = 10 * 1024 * 1024

TestRunParser = Callable[..., list[ParsedTestRun]]
"""`parser(data: bytes | str | decoded JSON, *, now_ns: int) -> list[ParsedTestRun]`."""

TEST_RUN_FORMATS: dict[str, TestRunParser] = {
    "native": native.parse_test_runs,
    "chaostoolkit": chaostoolkit.parse,
    "litmus": litmus.parse,
    "chaosmesh": chaosmesh.parse,
    "k6": k6.parse,
    "locust": locust.parse,
}

_CHUNK = 64 * 1024


def decompress(body: bytes, encoding: str | None, *, limit: int = DEFAULT_LIMIT) -> bytes:
    """Undo a Content-Encoding (`gzip`, `deflate`, `identity`, or a list applied in order).

    Raises `PayloadTooLarge` as soon as the output would exceed `limit` bytes, so a small
    compressed bomb never expands in memory, and `IngestError` for corrupt or unknown encodings.
    `snappy` passes through: for Loki it marks the protobuf body, which is not decoded here.
    """
    codings = [c.strip().lower() for c in (encoding or "").split(",") if c.strip()]
    for coding in reversed(codings):  # the last coding listed was applied last
        if coding in ("gzip", "x-gzip"):
            body = _inflate(body, zlib.MAX_WBITS | 16, limit)
        elif coding == "deflate":
            body = _deflate(body, limit)
        elif coding not in ("identity", "snappy"):
            raise IngestError(f"unsupported Content-Encoding {coding!r}", pointer="/")
    if len(body) > limit:
        raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
    return body


def _deflate(body: bytes, limit: int) -> bytes:
    """HTTP `deflate` is zlib-wrapped by the spec, raw deflate in some clients: accept both."""
    try:
        return _inflate(body, zlib.MAX_WBITS, limit)
    except IngestError as exc:
        if isinstance(exc, PayloadTooLarge):
            raise
        return _inflate(body, -zlib.MAX_WBITS, limit)


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    inflater: Any = zlib.decompressobj(wbits)
    out = bytearray()
    data = body
    try:
        while data:
            out += inflater.decompress(data, _CHUNK)
            if len(out) > limit:
                raise PayloadTooLarge(f"decompressed body exceeds the limit of {limit} bytes")
            data = inflater.unconsumed_tail
            if inflater.eof:
                if inflater.unused_data:  # concatenated gzip members
                    data = inflater.unused_data
                    inflater = zlib.decompressobj(wbits)
                else:
                    break
        if not inflater.eof:
            out += inflater.flush()
            if not inflater.eof:
                raise IngestError("truncated compressed body", pointer="/")
    except zlib.error as exc:
        raise IngestError(f"corrupt compressed body: {exc}", pointer="/") from exc
    if len(out) > limit:
        raise PayloadTooLarge(f"decompressed body exceeds the limit of {limit} bytes")
    return bytes(out)


__all__ = [
    "DEFAULT_LIMIT",
    "TEST_RUN_FORMATS",
    "ParsedTestRun",
    "TestRunParser",
    "decompress",
]
