"""Record ids (issue 13, item 6): a re-sent batch gets the ids it had, whatever it lacks; records
that differ in any field never share one."""

from __future__ import annotations

import orjson
import pytest

from premortem.domain import Event, LogRecord
from premortem.ingest import events, k8s, native, otlp, syslog

T0 = 1_714_564_800_000_000_000
NOW, LATER = 1_800_000_000_000_000_000, 1_800_000_060_123_456_789


def ids(records: list[LogRecord] | list[Event]) -> list[str]:
    return [r.id for r in records]


def test_native_logs_without_a_time_keep_their_ids_when_sent_again() -> None:
    batch = orjson.dumps([{"body": "ok"}, {"body": "ok"}, {"body": "disk full", "level": "error"}])
    first = native.parse_logs(batch, now_ns=NOW)
    again = native.parse_logs(batch, now_ns=LATER)
    assert ids(first) == ids(again)
    assert len(set(ids(first))) == 3  # the same line twice in a batch is two records
    assert [r.time_ns for r in first] == [NOW] * 3  # still stamped with the time received


def test_the_same_untimed_line_in_another_batch_is_another_record() -> None:
    one = native.parse_logs(b'{"body": "ok"}', now_ns=NOW)
    other = native.parse_logs(b'[{"body": "ok"}, {"body": "ready"}]', now_ns=NOW)
    assert one[0].id != other[0].id


def test_untimed_continuation_lines_keep_the_ids_of_their_batch() -> None:
    lines = ["Traceback (most recent call last):", '  File "a.py", line 1', "ValueError: boom"]
    batch = orjson.dumps([{"body": line} for line in lines])
    first, again = native.parse_logs(batch, now_ns=NOW), native.parse_logs(batch, now_ns=LATER)
    assert len(first) == 1 and ids(first) == ids(again)


def test_otlp_syslog_and_events_without_a_time_keep_their_ids() -> None:
    request = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "x"}}]}]}]}
    body = orjson.dumps(request)
    parse = otlp.parse_otlp_json
    assert ids(parse(body, now_ns=NOW).records) == ids(parse(body, now_ns=LATER).records)
    line = b"<14>1 - host app - - - started"
    assert ids(syslog.parse_lines(line, now_ns=NOW)) == ids(syslog.parse_lines(line, now_ns=LATER))
    mixed = orjson.dumps([{"type": "deploy", "source": "ci"}, {"type": "deploy", "source": "ci"}])
    first = events.parse_events(mixed, now_ns=NOW)
    assert ids(first) == ids(events.parse_events(mixed, now_ns=LATER)) and len(set(ids(first))) == 2
    assert ids(native.parse_events(mixed, now_ns=NOW)) == ids(first)
    kube = {"kind": "Event", "reason": "BackOff", "involvedObject": {"kind": "Pod", "name": "p"}}
    assert ids(k8s.parse_events(kube, now_ns=NOW)) == ids(k8s.parse_events(kube, now_ns=LATER))


BASE: dict[str, object] = {
    "timestamp": T0,
    "service": "api",
    "severity_text": "INFO",
    "body": "request done",
    "attributes": {"k": "v"},
    "resource": {"host": "a"},
    "trace_id": "5b8efff798038103d269b633813fc60c",
    "span_id": "eee19b7ec3c1b174",
}


@pytest.mark.parametrize(
    "change",
    [
        {"severity_text": "ERROR"},
        {"severity_number": 10, "severity_text": "INFO"},
        {"service": "web"},
        {"body": "request done!"},
        {"attributes": {"k": "w"}},
        {"resource": {"host": "b"}},
        {"trace_id": "5b8efff798038103d269b633813fc60d"},
        {"span_id": "eee19b7ec3c1b175"},
        {"observed_timestamp": T0 + 1},
        {"timestamp": T0 + 1},
    ],
)
def test_log_records_differing_in_any_field_are_not_merged(change: dict[str, object]) -> None:
    [base] = native.parse_logs(orjson.dumps(BASE), now_ns=NOW)
    [changed] = native.parse_logs(orjson.dumps(BASE | change), now_ns=NOW)
    [again] = native.parse_logs(orjson.dumps(BASE), now_ns=LATER)
    assert base.id != changed.id
    assert base.id == again.id


@pytest.mark.parametrize(
    "change",
    [{"data": {"v": 2}}, {"attributes": {"a": 2}}, {"service": "web"}, {"subject": "s2"}],
)
def test_events_differing_in_any_field_are_not_merged(change: dict[str, object]) -> None:
    base: dict[str, object] = {"time": T0, "type": "deploy", "source": "ci", "subject": "s1"}
    base |= {"service": "api", "attributes": {"a": 1}, "data": {"v": 1}}
    [one] = native.parse_events(orjson.dumps(base), now_ns=NOW)
    [other] = native.parse_events(orjson.dumps(base | change), now_ns=NOW)
    assert one.id != other.id


def test_a_senders_id_is_kept() -> None:
    [record] = native.parse_logs(b'{"id": "mine", "body": "x"}', now_ns=NOW)
    [event] = native.parse_events(b'{"id": "e1", "type": "deploy"}', now_ns=NOW)
    assert (record.id, event.id) == ("mine", "e1")
