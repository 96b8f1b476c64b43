"""OTLP (JSON and protobuf), Loki push and syslog lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as PbLogRecord
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from premortem.errors import IngestError
from premortem.ingest import loki, otlp, syslog

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ingest"
NOW = 1_714_564_800_000_000_000


def _otlp_doc() -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads((FIXTURES / "otlp-logs.json").read_bytes())
    return doc


def test_otlp_json_fixture() -> None:
    result = otlp.parse_otlp(
        (FIXTURES / "otlp-logs.json").read_bytes(), content_type="application/json", now_ns=NOW
    )
    assert (result.rejected, result.error_message) == (0, "")
    first, second, third = result.records
    assert (first.service, first.body, first.severity_number) == ("checkout", "db timeout", 17)
    assert first.time_ns == 1_544_712_660_300_000_000
    assert first.trace_id == "5b8efff798038103d269b633813fc60c"
    assert first.span_id == "eee19b7ec3c1b174"
    assert first.attributes == {
        "db.system": "postgresql",
        "retries": 3,
        "ratio": 0.5,
        "ok": False,
        "tags": ["a", 2],
        "ctx": {"k": "v"},
        "raw": "AQI=",
        "otel.scope.name": "app.logger",
    }
    assert first.resource["host.name"] == "node-1"
    # all-zero and malformed ids mean "no trace"; observed time stands in for a missing time
    assert second.trace_id is None and second.span_id is None
    assert second.time_ns == 1_544_712_661_000_000_000
    assert (second.severity_number, orjson.loads(second.body)) == (13, {"msg": "slow"})
    # the pre-1.0 instrumentationLibraryLogs spelling
    assert (third.service, third.severity_text) == ("payments", "INFO")
    assert third.attributes == {"otel.scope.name": "old"}


def test_otlp_empty_request_and_sniffing() -> None:
    assert otlp.parse_otlp(b"{}", now_ns=NOW).records == []
    assert otlp.parse_otlp({"resourceLogs": []}, now_ns=NOW).records == []


def test_otlp_missing_time_defaults_to_now() -> None:
    doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "x"}}]}]}]}
    [record] = otlp.parse_otlp(doc, now_ns=NOW).records
    assert (record.time_ns, record.service) == (NOW, "")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeUnixNano", "12ab"),
        ("timeUnixNano", -5),
        ("severityNumber", "SEVERITY_NUMBER_ERROR"),
        ("severityNumber", 30),
        ("severityText", 3),
        ("body", "plain string"),
        ("body", {"intValue": "x"}),
        ("attributes", {"k": "v"}),
    ],
)
def test_otlp_bad_record_is_rejected_not_raised(field: str, value: Any) -> None:
    doc = _otlp_doc()
    records = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    records[1][field] = value
    result = otlp.parse_otlp(doc, now_ns=NOW)
    assert result.rejected == 1
    assert len(result.records) == 2
    assert result.errors[0].pointer.startswith(f"/resourceLogs/0/scopeLogs/0/logRecords/1/{field}")
    assert "1 log records rejected" in result.error_message


def test_otlp_attribute_error_points_inside() -> None:
    doc = _otlp_doc()
    doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"][1]["value"] = {
        "boolValue": "yes"
    }
    result = otlp.parse_otlp(doc, now_ns=NOW)
    assert result.errors[0].pointer == (
        "/resourceLogs/0/scopeLogs/0/logRecords/0/attributes/1/value/boolValue"
    )


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (b"{not json", ""),
        (b'{"resourceLogs": {}}', "/resourceLogs"),
        (b'{"resourceLogs": [{"scopeLogs": 3}]}', "/resourceLogs/0/scopeLogs"),
        (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": {}}]}]}',
         "/resourceLogs/0/scopeLogs/0/logRecords"),
        (b'{"resourceLogs": [{"resource": {"attributes": [{"key": 1}]}}]}',
         "/resourceLogs/0/resource/attributes/0/key"),
    ],
)  # fmt: skip
def test_otlp_structural_errors_raise(body: bytes, pointer: str) -> None:
    with pytest.raises(IngestError) as info:
        otlp.parse_otlp(body, content_type="application/json; charset=utf-8", now_ns=NOW)
    assert info.value.pointer == pointer


def _protobuf_request() -> bytes:
    record = PbLogRecord(
        time_unix_nano=1_544_712_660_300_000_000,
        severity_number=SeverityNumber.SEVERITY_NUMBER_ERROR,
        severity_text="ERROR",
        body=AnyValue(string_value="db timeout"),
        attributes=[
            KeyValue(key="retries", value=AnyValue(int_value=3)),
            KeyValue(key="raw", value=AnyValue(bytes_value=b"\x01\x02")),
        ],
        trace_id=bytes.fromhex("5b8efff798038103d269b633813fc60c"),
        span_id=b"\0" * 8,
    )
    resource = Resource(
        attributes=[KeyValue(key="service.name", value=AnyValue(string_value="checkout"))]
    )
    request = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=resource,
                scope_logs=[ScopeLogs(log_records=[record, PbLogRecord(severity_text="info")])],
            )
        ]
    )
    data: bytes = request.SerializeToString()
    return data


def test_otlp_protobuf() -> None:
    result = otlp.parse_otlp(_protobuf_request(), content_type="application/x-protobuf", now_ns=NOW)
    first, second = result.records
    assert (first.service, first.body, first.severity_number) == ("checkout", "db timeout", 17)
    assert first.attributes == {"retries": 3, "raw": "AQI="}
    assert first.trace_id == "5b8efff798038103d269b633813fc60c" and first.span_id is None
    assert (second.time_ns, second.body, second.severity_number) == (NOW, "", 9)


def test_otlp_json_and_protobuf_give_the_same_record() -> None:
    pb = otlp.parse_otlp(_protobuf_request(), now_ns=NOW).records[0]
    doc = {"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeLogs": [{"logRecords": [{
            "timeUnixNano": "1544712660300000000", "severityNumber": 17, "severityText": "ERROR",
            "body": {"stringValue": "db timeout"},
            "attributes": [{"key": "retries", "value": {"intValue": "3"}},
                           {"key": "raw", "value": {"bytesValue": "AQI="}}],
            "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "0000000000000000"}]}]}]}  # fmt: skip
    assert otlp.parse_otlp(doc, now_ns=NOW).records[0] == pb


def _scoped_request(scope: dict[str, Any] | None, attributes: dict[str, str]) -> dict[str, Any]:
    record = {
        "timeUnixNano": "1544712660300000000",
        "body": {"stringValue": "charge failed"},
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
    }
    scope_logs: dict[str, Any] = {"logRecords": [record]}
    if scope is not None:
        scope_logs["scope"] = scope
    return {"resourceLogs": [{"scopeLogs": [scope_logs]}]}


def _on_wire(doc: dict[str, Any], wire: str) -> Any:
    """An OTLP JSON request as sent: the document itself, or its protobuf encoding."""
    if wire == "json":
        return doc
    request = ExportLogsServiceRequest()
    json_format.ParseDict(doc, request)
    return request.SerializeToString()


@pytest.mark.parametrize("wire", ["json", "protobuf"])
def test_otlp_scope_name_and_version_become_attributes(wire: str) -> None:
    """The Python SDK's logging bridge sends the logger's name only as the scope's name (issue 17);
    premortem keeps it the way the spec maps a scope to non-OTLP formats."""
    scope = {"name": "checkout.payments", "version": "2.4.1"}
    body = _on_wire(_scoped_request(scope, {"order.id": "42"}), wire)
    [record] = otlp.parse_otlp(body, now_ns=NOW).records
    assert record.attributes == {
        "order.id": "42",
        "otel.scope.name": "checkout.payments",
        "otel.scope.version": "2.4.1",
    }
    assert record.id == otlp.parse_otlp(body, now_ns=NOW).records[0].id  # still stable


@pytest.mark.parametrize(
    ("scope", "attributes", "expected"),
    [
        (None, {}, {}),  # no scope: nothing added, as before
        ({}, {}, {}),
        ({"name": "", "version": ""}, {}, {}),  # empty means unknown
        ({"name": 3, "version": None}, {}, {}),  # malformed: ignored, the record still accepted
        ({"name": "lib"}, {"otel.scope.name": "own"}, {"otel.scope.name": "own"}),  # own wins
    ],
)
def test_otlp_scope_attributes_only_when_named(
    scope: dict[str, Any] | None, attributes: dict[str, str], expected: dict[str, str]
) -> None:
    [record] = otlp.parse_otlp(_scoped_request(scope, attributes), now_ns=NOW).records
    assert record.attributes == expected


@pytest.mark.parametrize("wire", ["json", "protobuf"])
def test_an_otlp_records_exception_follows_its_message(wire: str) -> None:
    """OpenTelemetry's SDKs put a logged exception in `exception.*` attributes and only the
    message in the body: a trial's Redis failures ("Error handling request", the exception an
    `OutOfMemoryError`) were named "handling request". The body reads as a file logger's."""
    trace = (
        "Traceback (most recent call last):\n"
        '  File "/srv/api.py", line 40, in enqueue\n'
        "    queue.enqueue(job)\n"
        "redis.exceptions.OutOfMemoryError: OOM command not allowed when used memory > "
        "'maxmemory'.\n"
    )
    attributes = {
        "exception.type": "redis.exceptions.OutOfMemoryError",
        "exception.message": "OOM command not allowed when used memory > 'maxmemory'.",
        "exception.stacktrace": trace,
    }
    only_type = {k: v for k, v in attributes.items() if k != "exception.stacktrace"}
    bodies = []
    for attrs in (attributes, only_type, {}):
        doc = _scoped_request(None, attrs)
        doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"] = {
            "stringValue": "Error handling request"
        }
        [record] = otlp.parse_otlp(_on_wire(doc, wire), now_ns=NOW).records
        assert record.attributes == attrs
        bodies.append(record.body)
    assert bodies == [
        "Error handling request\n" + trace.strip("\n"),
        "Error handling request\nredis.exceptions.OutOfMemoryError: OOM command not allowed "
        "when used memory > 'maxmemory'.",
        "Error handling request",
    ]
    from premortem.learn.naming import mode_name

    assert mode_name("api", "probe jobs failing", [bodies[0]]) == "api: memory exhaustion"


def test_a_native_record_with_exception_attributes_reads_the_same() -> None:
    """Pages of `GET /api/v1/logs` from a server that stored OTLP records are sent back as
    native records: they read as the OTLP ones did, and a body that holds its trace already is
    left alone."""
    from premortem.ingest.native import log_record

    item = {
        "timestamp": "2026-12-07T21:44:20.970Z",
        "body": "Error handling request",
        "attributes": {"exception.type": "KeyError", "exception.message": "'job'"},
    }
    first = log_record(item, NOW)
    assert first.body == "Error handling request\nKeyError: 'job'"
    assert log_record({**item, "body": first.body}, NOW).body == first.body
    assert log_record({**item, "attributes": {}}, NOW).body == "Error handling request"


def test_a_json_loggers_error_field_follows_its_message() -> None:
    """pino's and bunyan's `err` object (its stack), zap's and logrus's `error` string: what
    broke, beside a message that only says something did. Template: the message's line."""
    from premortem.ingest.native import log_record

    pino = {
        "level": 50,
        "time": 1765154737000,
        "pid": 7,
        "hostname": "web-1",
        "msg": "could not enqueue order",
        "err": {
            "type": "Error",
            "message": "broker rejected publish (nack)",
            "stack": "Error: broker rejected publish (nack)\n    at Channel.confirm (index.js:42:11)",
        },
    }
    assert log_record(pino, NOW).body == (
        "could not enqueue order\nError: broker rejected publish (nack)\n"
        "    at Channel.confirm (index.js:42:11)"
    )
    without_stack = {**pino, "err": {"type": "Error", "message": "nack"}}
    assert log_record(without_stack, NOW).body == "could not enqueue order\nError: nack"
    zap = {"level": "error", "ts": 1765154737.5, "msg": "request failed", "error": "EOF"}
    assert log_record(zap, NOW).body == "request failed\nEOF"
    flag = {"timestamp": NOW, "body": "checked", "attributes": {"error": False}}
    assert log_record(flag, NOW).body == "checked"


def test_otlp_protobuf_garbage() -> None:
    with pytest.raises(IngestError, match="protobuf"):
        otlp.parse_otlp(b"\xff\xff\xff\xff", content_type="application/x-protobuf", now_ns=NOW)


# --------------------------------------------------------------------------- Loki


def test_loki_fixture() -> None:
    first, second, third = loki.parse_push((FIXTURES / "loki-push.json").read_bytes())
    assert (first.service, first.severity_number, first.trace_id) == (
        "checkout",
        17,
        "0242ac120002",
    )
    assert first.time_ns == 1_570_818_238_000_000_000
    assert second.body == "db timeout again"
    assert (third.service, third.severity_number) == ("varlogs", 9)
    assert third.resource == {"job": "varlogs", "filename": "/var/log/app.log"}


@pytest.mark.parametrize(
    ("doc", "pointer"),
    [
        ({}, "/streams"),
        ({"streams": [{"values": []}]}, "/streams/0/stream"),
        ({"streams": [{"stream": {"a": 1}, "values": []}]}, "/streams/0/stream/a"),
        ({"streams": [{"stream": {}, "values": [["1", "x"], ["abc", "y"]]}]},
         "/streams/0/values/1/0"),
        ({"streams": [{"stream": {}, "values": [["1", 2]]}]}, "/streams/0/values/0/1"),
        ({"streams": [{"stream": {}, "values": [["1"]]}]}, "/streams/0/values/0"),
        ({"streams": [{"stream": {}, "values": [["1", "x", {"k": 1}]]}]},
         "/streams/0/values/0/2/k"),
        ({"streams": [{"stream": {}}]}, "/streams/0/values"),
    ],
)  # fmt: skip
def test_loki_errors(doc: Any, pointer: str) -> None:
    with pytest.raises(IngestError) as info:
        loki.parse_push(orjson.dumps(doc))
    assert info.value.pointer == pointer


def test_loki_protobuf_is_detected() -> None:
    assert loki.is_protobuf("application/x-protobuf") and loki.is_protobuf(None)
    assert not loki.is_protobuf("application/json; charset=utf-8")


# --------------------------------------------------------------------------- syslog


def test_syslog_fixture() -> None:
    su, app, bsd, bare = syslog.parse_lines((FIXTURES / "syslog.txt").read_bytes(), now_ns=NOW)
    assert (su.service, su.severity_number, su.severity_text) == ("su", 21, "FATAL")
    assert su.time_ns == 1_065_910_455_003_000_000
    assert su.resource == {"host.name": "mymachine.example.com"}
    assert su.attributes["syslog.msgid"] == "ID47"
    assert app.attributes["exampleSDID@32473.eventID"] == "1011"
    assert app.body == "An application event log entry..."
    assert app.time_ns == 1_061_727_255_000_003_000  # -07:00 offset applied
    assert (bsd.service, bsd.attributes["syslog.procid"], bsd.body) == (
        "checkout",
        "123",
        "db timeout after 30s",
    )
    assert bsd.resource == {"host.name": "mymachine"}
    # "Oct 11" seen on 2024-05-01 is last October
    assert bsd.time_ns == 1_697_062_455_000_000_000
    assert (bare.service, bare.severity_number, bare.resource) == ("payments", 17, {})


def test_syslog_octet_counting_and_nil_values() -> None:
    [record] = syslog.parse_lines(b'52 <14>1 - - - - - [a b="x\\"y"] hello', now_ns=NOW)
    assert (record.time_ns, record.service, record.body) == (NOW, "", "hello")
    assert record.attributes["a.b"] == 'x"y'


@pytest.mark.parametrize(
    ("text", "pointer"),
    [
        ("<14>1 2003-10-11T22:14:15Z h a - - - ok\nno pri here", "/1"),
        ("<192>1 - - - - - - x", "/0"),
        ("<14>1 yesterday h a - - - x", "/0/timestamp"),
        ("<14>1 - h a - - [broken", "/0"),
        ("<14>1 - h a - - nosd", "/0"),
    ],
)
def test_syslog_errors(text: str, pointer: str) -> None:
    with pytest.raises(IngestError) as info:
        syslog.parse_lines(text, now_ns=NOW)
    assert info.value.pointer == pointer


def test_otlp_null_repeated_fields_are_empty() -> None:
    doc = {"resourceLogs": [{"resource": None, "scopeLogs": [{"logRecords": None}]}]}
    assert otlp.parse_otlp(doc, now_ns=NOW).records == []
    assert otlp.parse_otlp({"resourceLogs": None}, now_ns=NOW).records == []


def test_otlp_names_every_error_of_a_bad_record() -> None:
    doc = _otlp_doc()
    record = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][1]
    record.update(timeUnixNano="soon", severityNumber=30, body={"intValue": "x"})
    result = otlp.parse_otlp(doc, now_ns=NOW)
    at = "/resourceLogs/0/scopeLogs/0/logRecords/1"
    (error,) = result.errors
    assert [e.pointer for e in error.errors] == [
        f"{at}/timeUnixNano",
        f"{at}/severityNumber",
        f"{at}/body/intValue",
    ]


def test_loki_names_every_bad_entry_and_field() -> None:
    doc = {
        "streams": [
            {"stream": {"a": 1}, "values": [["1", "x"]]},
            {"stream": {}, "values": [["abc", 2], ["1", "fine"], ["2", "x", {"k": 1}]]},
        ]
    }
    with pytest.raises(IngestError) as info:
        loki.parse_push(orjson.dumps(doc))
    assert [e.pointer for e in info.value.errors] == [
        "/streams/0/stream/a",
        "/streams/1/values/0/0",
        "/streams/1/values/0/1",
        "/streams/1/values/2/2/k",
    ]
