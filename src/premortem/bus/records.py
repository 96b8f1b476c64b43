"""Log records on the bus: one message holds a batch of one partition's records.

A record travels as a compact JSON array of its fields (its id included, so a worker stores it
under the id the sender's request gave it, and a redelivered message stores nothing twice). A
message's id is derived from its records' ids: the same batch re-sent after a lost answer is the
same message, which the stream keeps once (its duplicate window).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from hashlib import blake2b
from typing import Any

from premortem import textjson
from premortem.bus import Outgoing, partition_of
from premortem.domain import LogRecord
from premortem.errors import IngestError

MESSAGE_RECORDS = 1000  # records per message at most
# NATS refuses messages over its max_payload (1 MiB unless configured): a batch whose encoding is
# larger is halved until its parts fit; one record larger alone cannot cross the bus.
MESSAGE_BYTES = 900_000


def encode(records: Sequence[LogRecord]) -> bytes:
    fields = [
        [
            r.id,
            r.time_ns,
            r.observed_ns,
            r.service,
            r.severity_number,
            r.severity_text,
            r.body,
            r.attributes,
            r.resource,
            r.trace_id,
            r.span_id,
        ]
        for r in records
    ]
    return textjson.dumps(fields)  # lone surrogates (syslog bytes) too


def decode(data: bytes) -> list[LogRecord]:
    return [
        LogRecord(
            id=f[0],
            time_ns=f[1],
            observed_ns=f[2],
            service=f[3],
            severity_number=f[4],
            severity_text=f[5],
            body=f[6],
            attributes=f[7],
            resource=f[8],
            trace_id=f[9],
            span_id=f[10],
        )
        for f in _loads(data)
    ]


def _loads(data: bytes) -> list[list[Any]]:
    loaded: list[list[Any]] = textjson.loads(data)
    return loaded


def by_partition(records: Sequence[LogRecord], partitions: int) -> dict[int, list[Outgoing]]:
    """The messages to publish per partition, records in the order given."""
    grouped: dict[int, list[LogRecord]] = defaultdict(list)
    for record in records:
        grouped[partition_of(record.service, partitions)].append(record)
    out: dict[int, list[Outgoing]] = {}
    for partition in sorted(grouped):
        group = grouped[partition]
        out[partition] = [
            message
            for start in range(0, len(group), MESSAGE_RECORDS)
            for message in _messages(group[start : start + MESSAGE_RECORDS])
        ]
    return out


def _messages(records: Sequence[LogRecord]) -> list[Outgoing]:
    """One message, or several when the encoding is over MESSAGE_BYTES (halved until it fits)."""
    data = encode(records)
    if len(data) <= MESSAGE_BYTES:
        digest = blake2b(digest_size=16)
        for record in records:
            digest.update(record.id.encode("utf-8", "surrogatepass"))
            digest.update(b"\0")
        return [Outgoing(digest.hexdigest(), data)]
    if len(records) == 1:
        raise IngestError(
            f"log record {records[0].id!r} is {len(data):,} bytes encoded, more than the log "
            f"stream takes ({MESSAGE_BYTES:,} bytes in scale-out); nothing was accepted"
        )
    half = len(records) // 2
    return _messages(records[:half]) + _messages(records[half:])
