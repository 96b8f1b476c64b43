"""Shared field readers: RFC 3339, epoch magnitudes, pointers, decompression."""

from __future__ import annotations

import gzip
import zlib
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from premortem.errors import IngestError, PayloadTooLarge
from premortem.ingest import decompress
from premortem.ingest.fields import epoch_to_ns, pointer, rfc3339_to_ns, timestamp_ns


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2024-05-01T12:00:00Z", 1_714_564_800_000_000_000),
        ("2024-05-01t12:00:00z", 1_714_564_800_000_000_000),
        ("2024-05-01 12:00:00", 1_714_564_800_000_000_000),
        ("2024-05-01T12:00:00.5Z", 1_714_564_800_500_000_000),
        ("2024-05-01T12:00:00.123456789123Z", 1_714_564_800_123_456_789),
        ("2024-05-01T14:00:00.000001+02:00", 1_714_564_800_000_001_000),
        ("2024-05-01T11:30:00-00:30", 1_714_564_800_000_000_000),
        ("2024-05-01T12:00:00.123456", 1_714_564_800_123_456_000),
    ],
)
def test_rfc3339(text: str, ns: int) -> None:
    assert rfc3339_to_ns(text) == ns


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01",
        "2024-02-30T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:00:00.Z",
        "2024-05-01T12:00:00+0200",
        "2024-05-01T12:00:00 UTC",
        "2024/05/01T12:00:00Z",
        "２０２４-05-01T12:00:00Z",
    ],
)
def test_rfc3339_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        rfc3339_to_ns(text)


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)))
def test_rfc3339_matches_datetime(moment: datetime) -> None:
    expected = int(moment.timestamp() - moment.astimezone().utcoffset().total_seconds())  # type: ignore[union-attr]
    text = moment.isoformat(timespec="microseconds") + "Z"
    assert rfc3339_to_ns(text) == expected * 10**9 + moment.microsecond * 1000


@pytest.mark.parametrize(
    ("value", "ns"),
    [
        (1_714_564_800, 1_714_564_800 * 10**9),
        (1_714_564_800.25, 1_714_564_800_250_000_000),
        (1_714_564_800_123, 1_714_564_800_123_000_000),
        (1_714_564_800_123_456, 1_714_564_800_123_456_000),
        (1_714_564_800_123_456_789, 1_714_564_800_123_456_789),
        (0, 0),
    ],
)
def test_epoch_magnitudes(value: float, ns: int) -> None:
    assert epoch_to_ns(value) == ns


def test_timestamp_rejects_non_finite() -> None:
    with pytest.raises(IngestError) as info:
        timestamp_ns(float("nan"), "/t")
    assert info.value.pointer == "/t"


def test_pointer_escapes() -> None:
    assert pointer("a/b", "m~n", 3) == "/a~1b/m~0n/3"


# --------------------------------------------------------------------------- decompress


def test_decompress_gzip_deflate_identity() -> None:
    body = b"hello " * 100
    assert decompress(gzip.compress(body), "gzip") == body
    assert decompress(zlib.compress(body), "deflate") == body
    raw = zlib.compressobj(wbits=-15)
    assert decompress(raw.compress(body) + raw.flush(), "deflate") == body
    assert decompress(body, None) == body
    assert decompress(body, "identity") == body
    assert decompress(gzip.compress(gzip.compress(body)), "gzip, gzip") == body
    assert decompress(gzip.compress(body[:300]) + gzip.compress(body[300:]), "GZIP") == body


def test_decompress_bomb_is_stopped_early() -> None:
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    assert len(bomb) < 100_000
    with pytest.raises(PayloadTooLarge):
        decompress(bomb, "gzip", limit=1024 * 1024)


def test_decompress_limit_applies_to_plain_bodies() -> None:
    with pytest.raises(PayloadTooLarge):
        decompress(b"x" * 11, None, limit=10)


@pytest.mark.parametrize(
    ("body", "encoding"), [(b"not gzip", "gzip"), (gzip.compress(b"x" * 100)[:20], "gzip")]
)
def test_decompress_corrupt(body: bytes, encoding: str) -> None:
    with pytest.raises(IngestError) as info:
        decompress(body, encoding)
    assert not isinstance(info.value, PayloadTooLarge)


def test_decompress_unknown_encoding() -> None:
    with pytest.raises(IngestError, match="br"):
        decompress(b"x", "br")
