"""Just enough of the protobuf wire format to read a message without generated classes.

Loki's `PushRequest` (and similar small schemas) are read field by field: `fields(buffer)` yields
(field number, wire type, value) where the value is an int for varints and fixed-width numbers
and a memoryview for length-delimited fields (strings, bytes, nested messages). Unknown fields are
yielded too and the caller skips them, which is what protobuf readers do. A truncated buffer, a
varint longer than ten bytes, a length past the end or a group (wire types 3 and 4, deprecated and
never used by these schemas) raises `IngestError` naming the byte offset.

Every value of the snappy block format Loki and Prometheus use is decompressed by `unsnappy`,
bounded by the same size limit as any other body.
"""

from __future__ import annotations

from collections.abc import Iterator

from premortem.errors import IngestError, PayloadTooLarge

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
MAX_VARINT_BYTES = 10


def fields(
    buffer: bytes | memoryview, *, at: str = ""
) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of every field of one message, in wire order."""
    view = memoryview(buffer)
    size = len(view)
    offset = 0
    while offset < size:
        key, offset = _varint(view, offset, at)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise IngestError(f"invalid protobuf: field number 0 at byte {offset}", pointer=at)
        if wire == VARINT:
            value, offset = _varint(view, offset, at)
            yield number, wire, value
        elif wire == LENGTH:
            length, offset = _varint(view, offset, at)
            if offset + length > size:
                raise IngestError(
                    f"invalid protobuf: field {number} runs past the end at byte {offset}",
                    pointer=at,
                )
            yield number, wire, view[offset : offset + length]
            offset += length
        elif wire in (FIXED64, FIXED32):
            width = 8 if wire == FIXED64 else 4
            if offset + width > size:
                raise IngestError(f"invalid protobuf: truncated at byte {offset}", pointer=at)
            yield number, wire, int.from_bytes(view[offset : offset + width], "little")
            offset += width
        else:
            raise IngestError(
                f"invalid protobuf: wire type {wire} of field {number} at byte {offset}",
                pointer=at,
            )


def text(value: int | memoryview, *, at: str) -> str:
    """A length-delimited field as UTF-8 text."""
    if not isinstance(value, memoryview):
        raise IngestError("must be a string (length-delimited), got a number", pointer=at)
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(f"invalid UTF-8 at byte {exc.start}", pointer=at) from exc


def message(value: int | memoryview, *, at: str) -> memoryview:
    """A length-delimited field as a nested message."""
    if not isinstance(value, memoryview):
        raise IngestError("must be a message (length-delimited), got a number", pointer=at)
    return value


def number(value: int | memoryview, *, at: str) -> int:
    if isinstance(value, memoryview):
        raise IngestError("must be a number, got a length-delimited field", pointer=at)
    return value


def signed64(value: int) -> int:
    """A varint read as int64 (negative numbers are ten-byte two's complement)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def unsnappy(body: bytes, *, limit: int) -> bytes:
    """Decompress a snappy *block* (not the framed format), refusing output over `limit` bytes."""
    import cramjam  # only the protobuf ingest paths need it

    declared = _declared_length(body)
    if declared > limit:
        raise PayloadTooLarge(f"snappy body declares {declared} bytes, more than {limit}")
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise IngestError(f"invalid snappy block: {exc}") from exc


def _declared_length(body: bytes) -> int:
    """The uncompressed length a snappy block starts with (a varint)."""
    try:
        length, _ = _varint(memoryview(body), 0, "")
    except IngestError as exc:
        raise IngestError("invalid snappy block: no length header") from exc
    return length


def _varint(view: memoryview, offset: int, at: str) -> tuple[int, int]:
    result = shift = 0
    for index in range(offset, min(offset + MAX_VARINT_BYTES, len(view))):
        byte = view[index]
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, index + 1
        shift += 7
    raise IngestError(f"invalid protobuf: bad varint at byte {offset}", pointer=at)
