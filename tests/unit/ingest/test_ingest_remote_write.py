"""Prometheus remote-write 1.0 bodies (requests from the independent encoder in
tests/prom_write.py, built from Prometheus' own prompb schema)."""

from __future__ import annotations

import math
import struct

import cramjam
import pytest

from premortem.errors import IngestError
from premortem.ingest.remote_write import parse_write_request
from prom_write import write_body

LIMIT = 1 << 20


def test_series_labels_and_points() -> None:
    body = write_body(
        [
            (
                {"__name__": "db_pool_in_use", "instance": "db:9187", "job": "postgres"},
                [(1_733_200_000_000, 12.0), (1_733_200_015_000, 47.5)],
            ),
            ({"__name__": "up", "job": "app"}, [(1_733_200_000_000, 1.0)]),
        ]
    )
    pool, up = parse_write_request(body, limit=LIMIT)
    assert (pool.metric, pool.labels) == (
        "db_pool_in_use",
        {"instance": "db:9187", "job": "postgres"},
    )
    assert pool.points == [(1_733_200_000_000_000_000, 12.0), (1_733_200_015_000_000_000, 47.5)]
    assert (up.metric, up.labels, up.points) == (
        "up",
        {"job": "app"},
        [(1_733_200_000_000_000_000, 1.0)],
    )


def test_a_series_id_ignores_label_order() -> None:
    one = write_body([({"__name__": "m", "a": "1", "b": "2"}, [(1, 1.0)])])
    two = write_body([({"b": "2", "__name__": "m", "a": "1"}, [(1, 1.0)])])
    assert (
        parse_write_request(one, limit=LIMIT)[0].id == parse_write_request(two, limit=LIMIT)[0].id
    )


def test_staleness_markers_are_dropped_and_infinities_kept() -> None:
    stale = struct.unpack("<d", (0x7FF0000000000002).to_bytes(8, "little"))[0]  # staleness NaN
    body = write_body([({"__name__": "m"}, [(1, stale), (2, math.inf), (3, -0.0)])])
    (series,) = parse_write_request(body, limit=LIMIT)
    assert series.points == [(2_000_000, math.inf), (3_000_000, -0.0)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x00not snappy", "snappy|protobuf"),
        (bytes(cramjam.snappy.compress_raw(b"\x0a\x02\x08\x01")), "must be a message"),
        (write_body([({"job": "no name"}, [(1, 1.0)])]), "__name__"),
        (write_body([({"__name__": "m"}, [(-5, 1.0)])]), "milliseconds"),
        (write_body([({"__name__": "m", "x": "v" * 2000}, [(1, 1.0)])]), "too long"),
    ],
)
def test_bad_requests_are_ingest_errors(body: bytes, message: str) -> None:
    with pytest.raises(IngestError, match=message):
        parse_write_request(body, limit=LIMIT)
