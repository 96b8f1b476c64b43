"""Log records on the bus (premortem.bus.records) and the partitions' template id ranges."""

from __future__ import annotations

import itertools

import pytest

from premortem.bus import partition_of
from premortem.bus.records import MESSAGE_BYTES, MESSAGE_RECORDS, by_partition, decode, encode
from premortem.domain import LogRecord
from premortem.errors import IngestError
from premortem.store.templates import MAX_PARTITIONS, PARTITION_BASE, TemplateScope


def _record(n: int, service: str = "api", body: str = "ok") -> LogRecord:
    return LogRecord(
        time_ns=n,
        body=f"{body} {n}",
        service=service,
        severity_number=9,
        severity_text="INFO",
        attributes={"k": [1, "x"]},
        resource={"host": "h"},
        trace_id="t",
    )


def test_a_record_crosses_the_bus_unchanged_hostile_text_included() -> None:
    records = [_record(1), _record(2, body="<b>\u202e\x00 caf\u00e9"), _record(3, body="\udcff")]
    assert decode(encode(records)) == records


def test_messages_hold_one_partitions_records_in_order_with_ids_from_their_records() -> None:
    records = [_record(n, service=f"s{n % 5}") for n in range(2 * MESSAGE_RECORDS + 7)]
    messages = by_partition(records, 3)
    again = by_partition(records, 3)
    assert [m.id for p in messages for m in messages[p]] == [m.id for p in again for m in again[p]]
    for partition, outgoing in messages.items():
        got = [r for m in outgoing for r in decode(m.data)]
        assert got == [r for r in records if partition_of(r.service, 3) == partition]
        assert all(len(decode(m.data)) <= MESSAGE_RECORDS for m in outgoing)
    assert len({m.id for p in messages for m in messages[p]}) == sum(map(len, messages.values()))


def test_partition_template_ids_never_meet_and_fit_32_bits() -> None:
    scopes = [TemplateScope.partition(p) for p in range(MAX_PARTITIONS)]
    assert scopes[0].first_id == PARTITION_BASE > TemplateScope().first_id
    for before, after in itertools.pairwise(scopes):
        assert before.end_id == after.first_id
    assert scopes[-1].end_id == 2**31
    with pytest.raises(ValueError):
        TemplateScope.partition(MAX_PARTITIONS)


def test_a_batch_too_large_for_one_message_is_split_and_one_record_too_large_refused() -> None:
    big = [_record(n, body="x" * 200_000) for n in range(10)]  # ~2 MB: no message may hold it
    messages = by_partition(big, 1)[0]
    assert len(messages) > 1 and all(len(m.data) <= MESSAGE_BYTES for m in messages)
    assert [r for m in messages for r in decode(m.data)] == big
    with pytest.raises(IngestError, match="more than the log stream takes"):
        by_partition([_record(1, body="y" * (MESSAGE_BYTES + 1))], 4)
