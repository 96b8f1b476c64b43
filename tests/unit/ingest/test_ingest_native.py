"""Native formats: the seed test run, log records (array, object, NDJSON), events."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from premortem.errors import IngestError
from premortem.ingest import TEST_RUN_FORMATS
from premortem.ingest.native import parse_events, parse_logs, parse_test_runs

SEED = Path(__file__).parents[3] / "examples" / "seed-test-run.json"
NOW = 1_714_564_800_000_000_000


def test_seed_round_trips_and_failed() -> None:
    raw = SEED.read_bytes()
    [parsed] = TEST_RUN_FORMATS["native"](raw, now_ns=NOW)
    assert parsed.doc == orjson.loads(raw)
    assert orjson.dumps(parsed.doc) == orjson.dumps(orjson.loads(raw))
    assert parsed.run.failed
    assert parsed.run.test_id == "chaos-test-001"
    assert parsed.run.fault_types == ["cpu_hog", "network_latency", "process_kill"]
    assert parsed.run.injected_faults[2].process == "worker-3"


def test_test_runs_list_and_extra_keys_kept() -> None:
    docs = [
        {"test_id": "a", "timestamp": "2024-05-01T12:00:00Z", "team": "sre"},
        {"test_id": "b", "timestamp": "2024-05-01T12:00:00+02:00"},
    ]
    parsed = parse_test_runs(orjson.dumps(docs))
    assert [p.doc for p in parsed] == docs
    assert parsed[0].run.model_extra == {"team": "sre"}


@pytest.mark.parametrize(
    ("doc", "pointer"),
    [
        ([{"test_id": "a", "timestamp": "2024-05-01T12:00:00Z"}, {"timestamp": "x"}], "/1/test_id"),
        ({"test_id": "a", "timestamp": "yesterday"}, "/timestamp"),
        ({"test_id": "a", "timestamp": "2024-05-01T12:00:00Z", "parameters": []}, "/parameters"),
        (
            {"test_id": "a", "timestamp": "2024-05-01T12:00:00Z", "injected_faults": [{"x": 1}]},
            "/injected_faults/0/type",
        ),
        ([1], "/0"),
    ],
)
def test_test_run_errors_point_at_field(doc: object, pointer: str) -> None:
    with pytest.raises(IngestError) as info:
        parse_test_runs(orjson.dumps(doc))
    assert info.value.pointer == pointer


def test_invalid_json_raises() -> None:
    with pytest.raises(IngestError, match="invalid JSON"):
        parse_test_runs(b'{"test_id": ')


# --------------------------------------------------------------------------- logs


def test_log_array_object_and_ndjson_agree() -> None:
    record = {
        "timestamp": "2024-05-01T12:00:00.123456789Z",
        "service": "checkout",
        "severity_text": "ERROR",
        "body": "db timeout",
        "attributes": {"db": "pg"},
        "trace_id": "5B8EFFF798038103D269B633813FC60C",
        "span_id": "EEE19B7EC3C1B174",
    }
    line = orjson.dumps(record)
    from_array = parse_logs(b"[" + line + b"," + line + b"]", now_ns=NOW)
    from_lines = parse_logs(line + b"\n\n" + line + b"\n", now_ns=NOW)
    [single] = parse_logs(line, now_ns=NOW)
    assert from_array == from_lines == [single, single]
    assert single.time_ns == 1_714_564_800_123_456_789
    assert (single.severity_number, single.severity_text) == (17, "ERROR")
    assert single.trace_id == "5b8efff798038103d269b633813fc60c"
    assert single.id and single.observed_ns == single.time_ns


def test_log_defaults_and_derivations() -> None:
    [a, b, c] = parse_logs(
        [
            {"body": "x"},
            {"body": "y", "severity_number": 13, "timestamp": 1714564800},
            {"body": "z", "timestamp": "1714564800000000001", "severity_text": "warning"},
        ],
        now_ns=NOW,
    )
    assert (a.time_ns, a.severity_number, a.severity_text, a.service) == (NOW, 0, "", "")
    assert (b.time_ns, b.severity_text) == (1_714_564_800_000_000_000, "WARN")
    assert (c.time_ns, c.severity_number) == (1_714_564_800_000_000_001, 13)


def test_log_shipper_spellings_and_unknown_keys() -> None:
    [record] = parse_logs(
        b'{"date": 1714564800.5, "log": "hello", "level": "info", "kubernetes": {"pod": "p"}}',
        now_ns=NOW,
    )
    assert record.body == "hello"
    assert record.time_ns == 1_714_564_800_500_000_000
    assert record.severity_number == 9
    assert record.attributes == {"kubernetes": {"pod": "p"}}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        # zap / logfmt-style keys (a trial's own logger: the time and level were lost silently)
        ({"ts": "2024-05-01T12:00:00Z", "lvl": "warn", "svc": "janitor", "message": "m"},
         (1_714_564_800_000_000_000, 13, "janitor")),
        ({"ts": 1714564800.25, "level": "error", "msg": "m"}, (1_714_564_800_250_000_000, 17, "")),
        # Serilog compact JSON, Elastic Common Schema, Python's logging
        ({"@t": "2024-05-01T12:00:00Z", "@l": "Warning", "@m": "m"},
         (1_714_564_800_000_000_000, 13, "")),
        ({"@timestamp": "2024-05-01T12:00:00Z", "log.level": "info", "service.name": "api",
          "message": "m"}, (1_714_564_800_000_000_000, 9, "api")),
        ({"datetime": "2024-05-01T12:00:00Z", "levelname": "CRITICAL", "app": "web", "msg": "m"},
         (1_714_564_800_000_000_000, 21, "web")),
        # Go's zap: the named logger is the service when nothing else says
        ({"ts": 1714564800.0, "level": "warn", "logger": "catalog", "caller": "db.go:42",
          "msg": "m"}, (1_714_564_800_000_000_000, 13, "catalog")),
        # pino / bunyan defaults: a numeric level (a trial's whole batch was a 400), the
        # logger's name beside pid and hostname, the time in ms
        ({"level": 40, "time": 1714564800000, "pid": 7, "hostname": "h", "name": "cart",
          "msg": "m"}, (1_714_564_800_000_000_000, 13, "cart")),
        ({"level": 50, "time": 1714564800000, "name": "not a logger", "msg": "m"},
         (1_714_564_800_000_000_000, 17, "")),
    ],
)  # fmt: skip
def test_common_logger_spellings_give_time_level_and_service(
    record: dict[str, object], expected: tuple[int, int, str]
) -> None:
    [parsed] = parse_logs([record], now_ns=NOW)
    assert (parsed.time_ns, parsed.severity_number, parsed.service) == expected
    assert parsed.body == "m"


def test_a_numeric_level_that_is_not_pinos_is_refused_with_what_to_send() -> None:
    with pytest.raises(IngestError) as info:
        parse_logs([{"body": "m", "level": 4}], now_ns=NOW)
    assert info.value.pointer == "/0/level"
    assert "severity_number" in info.value.message


def test_a_numeric_severity_stays_an_attribute() -> None:
    [parsed] = parse_logs([{"body": "m", "severity": 3, "app": {"name": "x"}}], now_ns=NOW)
    assert parsed.severity_number == 0 and parsed.service == ""
    assert parsed.attributes == {"severity": 3, "app": {"name": "x"}}


def test_structured_body_is_json_text() -> None:
    [record] = parse_logs([{"body": {"event": "login", "ok": True}}], now_ns=NOW)
    assert orjson.loads(record.body) == {"event": "login", "ok": True}


def test_same_content_same_id() -> None:
    line = b'{"timestamp": "2024-05-01T12:00:00Z", "body": "x", "service": "s"}'
    assert parse_logs(line, now_ns=1)[0].id == parse_logs(line, now_ns=2)[0].id


@pytest.mark.parametrize(
    ("batch", "pointer"),
    [
        ([{"body": "ok"}, {"service": "s"}], "/1/body"),
        ([{"body": 3}], "/0/body"),
        ([{"body": "x", "timestamp": "2024-13-01T00:00:00Z"}], "/0/timestamp"),
        ([{"body": "x", "timestamp": "not a time at all!!"}], "/0/timestamp"),
        ([{"body": "x", "timestamp": True}], "/0/timestamp"),
        ([{"body": "x", "severity_number": 99}], "/0/severity_number"),
        ([{"body": "x", "severity_number": "17"}], "/0/severity_number"),
        ([{"body": "x", "severity_text": 17}], "/0/severity_text"),
        ([{"body": "x", "attributes": ["a"]}], "/0/attributes"),
        ([{"body": "x", "service": 1}], "/0/service"),
        ([{"body": "x", "trace_id": 12}], "/0/trace_id"),
        ([{"body": "x", "resource": "r"}], "/0/resource"),
        ([{"body": "x"}, "text"], "/1"),
    ],
)
def test_log_errors_point_at_field(batch: list[object], pointer: str) -> None:
    with pytest.raises(IngestError) as info:
        parse_logs(orjson.dumps(batch), now_ns=NOW)
    assert info.value.pointer == pointer


def test_single_object_error_has_no_index() -> None:
    with pytest.raises(IngestError) as info:
        parse_logs(b'{"body": "x", "timestamp": "2024-05-01T12:00:00+5"}', now_ns=NOW)
    assert info.value.pointer == "/timestamp"


def test_bad_ndjson_line_is_named() -> None:
    with pytest.raises(IngestError) as info:
        parse_logs(b'{"body": "a"}\n{"body": \n{"body": "c"}', now_ns=NOW)
    assert info.value.pointer == "/1"
    assert "line 2" in info.value.message


def test_invalid_log_json() -> None:
    with pytest.raises(IngestError, match="invalid JSON"):
        parse_logs(b"[{]", now_ns=NOW)


# --------------------------------------------------------------------------- events


def test_native_events() -> None:
    [deploy] = parse_events(
        b'{"type": "deploy", "service": "checkout", "time": "2024-05-01T12:00:00Z",'
        b' "data": {"version": "1.2"}}',
        now_ns=NOW,
    )
    assert (deploy.type, deploy.source, deploy.service) == ("deploy", "checkout", "checkout")
    assert deploy.time_ns == NOW and deploy.data == {"version": "1.2"}


@pytest.mark.parametrize(
    ("batch", "pointer"),
    [
        ([{"source": "x"}], "/0/type"),
        ([{"type": "t", "time": "soon"}], "/0/time"),
        ([{"type": "t", "attributes": 1}], "/0/attributes"),
        ([{"type": ""}], "/0/type"),
    ],
)
def test_native_event_errors(batch: list[object], pointer: str) -> None:
    with pytest.raises(IngestError) as info:
        parse_events(orjson.dumps(batch), now_ns=NOW)
    assert info.value.pointer == pointer
