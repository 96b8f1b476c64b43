"""Record ids that make re-sending harmless (the rule is written out in docs/ingest.md).

A log record or event is identified by everything it says: an id the sender gave, else a digest
of all its fields (time, service, level, body, attributes, resource, trace context; for events
source, type, subject, service, attributes, data). Records that differ in any field never share
an id, and a re-sent record gets the id it had.

A record sent without a time is stamped with the time it was received, which a re-send cannot
reproduce, so its id leaves the time out and is derived from the whole batch instead: a digest
of every record of the batch (each without a time of its own) and the record's position in it.
Re-sending the identical batch reproduces every id; the same line in any other batch is a new
record. What the server cannot tell apart is the identical batch sent twice on purpose; a
sender for whom that is a real repeat sends a time or an id.

>>> from premortem.domain import LogRecord
>>> first = [LogRecord(time_ns=1, body="ok"), LogRecord(time_ns=1, body="ok")]
>>> again = [LogRecord(time_ns=2, body="ok"), LogRecord(time_ns=2, body="ok")]
>>> identify_untimed(first, [0, 1]); identify_untimed(again, [0, 1])
>>> [r.id for r in first] == [r.id for r in again] and first[0].id != first[1].id
True
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from premortem.domain import Event, LogRecord, stable_id


def identify_untimed(records: Sequence[LogRecord | Event], untimed: Collection[int]) -> None:
    """Give the records at positions `untimed` (sent without a time or an id) ids derived from
    the batch and their position in it, which a re-sent batch reproduces."""
    if not untimed:
        return
    wanted = set(untimed)
    parts = [r.timeless_digest() if i in wanted else r.id for i, r in enumerate(records)]
    batch = stable_id("batch", parts)
    for i in sorted(wanted):
        records[i].id = stable_id("untimed", batch, i)
