"""The real OpenTelemetry Python SDK as a sender (issue 17, "real senders").

An application logs through the stdlib `logging` bridge (`LoggingHandler`) of a `LoggerProvider`
whose `BatchLogRecordProcessor` ships protobuf to `premortem serve` with the SDK's own
`OTLPLogExporter` (plain, gzip and deflate, the compressions it offers), one record inside a span of
a real `TracerProvider`. Read back through `GET /api/v1/logs`, every record is there once, with
its body, level, the resource's service, the resource and record attributes, the logger's name
(the instrumentation scope, as `otel.scope.name`) and the span's ids.

The SDK is not a dependency of premortem itself: without it this test is skipped, unless
PREMORTEM_REQUIRE_SERVICES=1 (CI), where it fails.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from premortem_serving import PremortemProcess

try:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import format_span_id, format_trace_id

    SDK_MISSING = ""
except ImportError as exc:  # the message says what to install
    SDK_MISSING = str(exc)

pytestmark = pytest.mark.integration

INSTALL = "pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http"
SERVICE = "checkout"
LOGGER = "checkout.payments"
RESOURCE = {
    "service.name": SERVICE,
    "service.version": "2.4.1",
    "deployment.environment.name": "staging",
    "host.name": "checkout-7f9c",
}


@dataclass(frozen=True, slots=True)
class Expected:
    body: str
    severity_number: int
    severity_text: str
    in_span: bool = False


EXPECTED = [
    Expected("checkout started for order 42", 9, "INFO"),
    Expected("heartbeat", 9, "INFO"),
    Expected("heartbeat", 9, "INFO"),  # the same line twice is two records, not one
    Expected("payment gateway slow: 950 ms", 13, "WARN"),
    Expected("charge failed for order 42", 17, "ERROR", in_span=True),
    Expected("payment declined", 17, "ERROR"),
    Expected("order service shutting down", 21, "FATAL"),
]


@pytest.fixture
def otel_sdk() -> None:
    if not SDK_MISSING:
        return
    reason = f"the OpenTelemetry SDK is required ({SDK_MISSING}): {INSTALL}"
    if os.environ.get("PREMORTEM_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def premortem_url(tmp_path: Path, premortem_process: Callable[..., PremortemProcess]) -> str:
    server = premortem_process(f"sqlite:///{tmp_path / 'premortem.db'}")
    server.start()
    return server.url


@dataclass(slots=True)
class Span:
    """The span the application's span-bound record was logged in."""

    trace_id: str = ""
    span_id: str = ""


@pytest.fixture
def application_logger() -> Iterator[logging.Logger]:
    """A named logger of its own: the exporter's own warnings must not be shipped back."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger
    logger.handlers.clear()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def send_with_sdk(url: str, logger: logging.Logger, *, compression: str) -> Span:
    """Configure the SDK as an application would, log `EXPECTED`, flush and shut down."""
    sent = Span()
    exporter = OTLPLogExporter(
        endpoint=f"{url}/v1/logs", compression=Compression(compression), timeout=10
    )
    provider = LoggerProvider(resource=Resource.create(RESOURCE), shutdown_on_exit=False)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    tracer_provider = TracerProvider(resource=Resource.create(RESOURCE), shutdown_on_exit=False)
    tracer = tracer_provider.get_tracer(LOGGER)
    logger.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=provider))
    try:
        logger.info("checkout started for order %s", 42, extra={"order.id": 42})
        for _ in range(2):
            logger.info("heartbeat")
        logger.warning("payment gateway slow: %d ms", 950)
        with tracer.start_as_current_span("charge") as span:
            context = span.get_span_context()
            sent.trace_id, sent.span_id = (
                format_trace_id(context.trace_id),
                format_span_id(context.span_id),
            )
            logger.error("charge failed for order %s", 42)
        try:
            raise ValueError("card expired")
        except ValueError:
            logger.exception("payment declined")
        logger.critical("order service shutting down")
        assert provider.force_flush(timeout_millis=20_000), "the SDK did not flush in 20 s"
    finally:
        provider.shutdown()
        tracer_provider.shutdown()
    return sent


def stored_logs(url: str) -> list[dict[str, Any]]:
    page = httpx.get(f"{url}/api/v1/logs", params={"limit": 1000}, timeout=10)
    page.raise_for_status()
    answer: dict[str, Any] = page.json()
    assert answer["total"] == len(answer["items"]), answer["total"]
    # Fixed-width RFC 3339 (microseconds): the text sorts as the time does.
    return sorted(answer["items"], key=lambda i: (i["timestamp"], i["observed_timestamp"]))


@pytest.mark.parametrize("compression", ["none", "gzip", "deflate"])
@pytest.mark.usefixtures("otel_sdk")
def test_sdk_logs_arrive_once_with_level_resource_attributes_and_trace(
    premortem_url: str,
    application_logger: logging.Logger,
    compression: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="opentelemetry")
    sent = send_with_sdk(premortem_url, application_logger, compression=compression)
    # The exporter reports a refused or retried export only in its own log.
    complaints = [r for r in caplog.records if r.name.startswith("opentelemetry")]
    assert not complaints, [r.getMessage() for r in complaints]

    logs = stored_logs(premortem_url)

    # an exception's trace follows its message, as `logger.exception` writes it in a file
    assert [log["body"].split("\n", 1)[0] for log in logs] == [e.body for e in EXPECTED]
    assert [(log["severity_number"], log["severity_text"]) for log in logs] == [
        (e.severity_number, e.severity_text) for e in EXPECTED
    ]
    assert len({log["id"] for log in logs}) == len(EXPECTED)
    for log, expected in zip(logs, EXPECTED, strict=True):
        assert log["service"] == SERVICE
        assert log["resource"].items() >= RESOURCE.items(), log["resource"]
        assert log["resource"]["telemetry.sdk.language"] == "python"
        # The bridge sends the logger's name only as the instrumentation scope's.
        assert log["attributes"]["otel.scope.name"] == LOGGER
        assert log["attributes"]["code.function.name"] == "send_with_sdk"
        assert isinstance(log["attributes"]["code.line.number"], int)
        if expected.in_span:
            assert (log["trace_id"], log["span_id"]) == (sent.trace_id, sent.span_id)
        else:
            assert (log["trace_id"], log["span_id"]) == (None, None), log
    assert logs[0]["attributes"]["order.id"] == 42
    record = next(log for log in logs if log["body"].startswith("payment declined\n"))
    declined = record["attributes"]
    assert (declined["exception.type"], declined["exception.message"]) == (
        "ValueError",
        "card expired",
    )
    assert declined["exception.stacktrace"].startswith("Traceback (most recent call last):")
    assert record["body"] == "payment declined\n" + declined["exception.stacktrace"].strip("\n")
    assert record["body"].endswith("ValueError: card expired")
