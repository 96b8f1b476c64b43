"""Loki push in protobuf + snappy, the default of Promtail and Grafana Alloy (requests from the
independent encoder in tests/loki_push.py, built from Loki's own push.proto)."""

from __future__ import annotations

from typing import Any

import cramjam
import orjson
import pytest

from loki_push import PushRequest, push_body
from premortem.errors import IngestError, PayloadTooLarge
from premortem.ingest import loki

LIMIT = 1 << 20


STREAMS: list[dict[str, Any]] = [
    {
        "labels": '{service_name="checkout", level="warn", pod="checkout-7d9f"}',
        "entries": [
            (1_733_200_000_123_456_789, "pool exhausted, waiting", {"trace_id": "4bf92f35"}),
            (1_733_200_001_000_000_000, 'retrying "payment" \\ call\n', {}),
        ],
    },
    {"labels": '{job="db"}', "entries": [(1_733_200_002_000_000_001, "ERROR deadlock", {})]},
]


def test_protobuf_push_reads_like_the_json_push() -> None:
    records = loki.parse_push_protobuf(push_body(STREAMS), limit=LIMIT)
    as_json = {
        "streams": [
            {
                "stream": loki.parse_labels(s["labels"], at=""),
                "values": [[str(t), line, meta] for t, line, meta in s["entries"]],
            }
            for s in STREAMS
        ]
    }
    assert records == loki.parse_push(orjson.dumps(as_json))
    first, second, third = records
    assert (first.time_ns, first.service, first.severity_text) == (
        1_733_200_000_123_456_789, "checkout", "warn",
    )  # fmt: skip
    assert first.severity_number == 13 and first.trace_id == "4bf92f35"
    assert first.resource == {"service_name": "checkout", "level": "warn", "pod": "checkout-7d9f"}
    assert second.body.startswith('retrying "payment" \\ call')
    assert (third.service, third.body, third.time_ns) == (
        "db",
        "ERROR deadlock",
        1_733_200_002_000_000_001,
    )


def test_label_values_are_go_quoted() -> None:
    labels = loki.parse_labels(r'{a="x\"y", b="back\\slash", c="new\nline", d=""}', at="")
    assert labels == {"a": 'x"y', "b": "back\\slash", "c": "new\nline", "d": ""}
    assert loki.parse_labels("{}", at="") == {} == loki.parse_labels("", at="")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not snappy at all", "snappy"),
        (bytes(cramjam.snappy.compress_raw(b"\xff\xff\xff")), "protobuf"),
        (bytes(cramjam.snappy.compress_raw(b"\x0a\x05\x0a\x03abc")), "label set"),
    ],
)
def test_bad_bodies_are_ingest_errors(body: bytes, message: str) -> None:
    with pytest.raises(IngestError, match=message):
        loki.parse_push_protobuf(body, limit=LIMIT)


def test_a_bad_entry_is_named_like_in_json() -> None:
    streams: list[dict[str, Any]] = [
        {"labels": "{}", "entries": [(1, "ok", {})]},
        {"labels": "{}", "entries": []},
    ]
    request = PushRequest.FromString(cramjam.snappy.decompress_raw(push_body(streams)).read())
    request.streams[0].entries.add(line="before 1970")
    request.streams[0].entries[1].timestamp.seconds = -5
    body = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
    with pytest.raises(IngestError) as info:
        loki.parse_push_protobuf(body, limit=LIMIT)
    assert info.value.pointer == "/streams/0/values/1/0"


def test_a_snappy_bomb_is_refused_before_it_is_inflated() -> None:
    body = bytes(cramjam.snappy.compress_raw(b"a" * (LIMIT + 1)))
    with pytest.raises(PayloadTooLarge):
        loki.parse_push_protobuf(body, limit=LIMIT)


def test_lokis_own_push_test_case_reads_the_same_in_protobuf() -> None:
    """The push of Loki's TestParseRequest (grafana/loki pkg/loghttp/push/push_test.go,
    Apache-2.0): stream `{foo="bar2"}` — the label string Loki itself writes for it — and entry
    "fizzbuzz" at 1570818238000000000 with structured metadata a=a, b=b; Loki accepts it in JSON
    and protobuf alike, and so does premortem, with the same records."""
    json_body = (
        b'{"streams": [{ "stream": { "foo": "bar2" }, "values": '
        b'[ [ "1570818238000000000", "fizzbuzz", {"a": "a", "b": "b"} ] ] }]}'
    )
    protobuf = push_body(
        [
            {
                "labels": '{foo="bar2"}',
                "entries": [(1570818238000000000, "fizzbuzz", {"a": "a", "b": "b"})],
            }
        ]
    )
    (record,) = loki.parse_push_protobuf(protobuf, limit=LIMIT)
    assert [record] == loki.parse_push(json_body)
    assert (record.body, record.resource, record.attributes) == (
        "fizzbuzz", {"foo": "bar2"}, {"a": "a", "b": "b"},
    )  # fmt: skip
