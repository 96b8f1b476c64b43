"""The bus in one process: the twin of JetStream for tests. It keeps every message it was
given (no retention limit), so it is not for a long-running process.

It keeps JetStream's contract (premortem.bus): a stream per bus, messages deduplicated by id
within the duplicate window, durable consumers that filter one subject, remember what was
acknowledged and deliver again what was not acknowledged within `ack_wait_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from premortem.bus import ACK_WAIT_S, DUPLICATE_WINDOW_S, Incoming, Outgoing


@dataclass(slots=True)
class _Stored:
    seq: int
    subject: str
    id: str
    data: bytes


@dataclass(slots=True)
class _Consumer:
    subject: str
    next_seq: int = 1  # the first stream sequence never delivered to it
    pending: dict[int, float] = field(default_factory=dict)  # delivered, unacked: seq -> due
    deliveries: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Message:
    id: str
    subject: str
    data: bytes
    deliveries: int
    position: int
    _settle: Callable[[bool], None]

    async def ack(self) -> None:
        self._settle(True)

    async def nak(self) -> None:
        self._settle(False)


class MemoryBus:
    def __init__(
        self,
        *,
        ack_wait_s: float = ACK_WAIT_S,
        duplicate_window_s: float = DUPLICATE_WINDOW_S,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ack_wait_s = ack_wait_s
        self.duplicate_window_s = duplicate_window_s
        self._now = now
        self._stream: list[_Stored] = []
        self._seen: dict[str, float] = {}  # message id -> when it was stored
        self._consumers: dict[str, _Consumer] = {}
        self._arrived = asyncio.Condition()

    async def publish(self, subject: str, messages: Sequence[Outgoing]) -> None:
        now = self._now()
        self._seen = {k: t for k, t in self._seen.items() if now - t < self.duplicate_window_s}
        for message in messages:
            if message.id in self._seen:
                continue
            self._seen[message.id] = now
            self._stream.append(_Stored(len(self._stream) + 1, subject, message.id, message.data))
        async with self._arrived:
            self._arrived.notify_all()

    async def pull(
        self, subject: str, *, durable: str, batch: int, timeout_s: float
    ) -> list[Incoming]:
        consumer = self._consumers.setdefault(durable, _Consumer(subject))
        if consumer.subject != subject:
            raise ValueError(f"consumer {durable!r} filters {consumer.subject!r}, not {subject!r}")
        deadline = self._now() + timeout_s
        while True:
            taken = self._take(consumer, batch)
            left = deadline - self._now()
            if taken or left <= 0:
                return taken
            async with self._arrived:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), timeout=min(left, 0.05))

    def _take(self, consumer: _Consumer, batch: int) -> list[Incoming]:
        """Redeliveries that are due first, then messages never delivered, oldest first."""
        now = self._now()
        chosen = sorted(seq for seq, at in consumer.pending.items() if at <= now)[:batch]
        stream = self._stream
        scan = consumer.next_seq - 1
        while scan < len(stream) and len(chosen) < batch:
            if stream[scan].subject == consumer.subject:
                chosen.append(stream[scan].seq)
            scan += 1
        consumer.next_seq = scan + 1
        taken: list[Incoming] = []
        for seq in chosen:
            stored = stream[seq - 1]
            consumer.pending[seq] = now + self.ack_wait_s
            consumer.deliveries[seq] = consumer.deliveries.get(seq, 0) + 1
            taken.append(
                _Message(
                    stored.id,
                    stored.subject,
                    stored.data,
                    consumer.deliveries[seq],
                    seq,
                    self._settler(consumer, seq),
                )
            )
        return taken

    def _settler(self, consumer: _Consumer, seq: int) -> Callable[[bool], None]:
        def settle(acked: bool) -> None:
            if seq not in consumer.pending:
                return
            if acked:
                del consumer.pending[seq]
                consumer.deliveries.pop(seq, None)
            else:
                consumer.pending[seq] = self._now()

        return settle

    async def take_over(self, subject: str, durable: str) -> int:
        """What a stopped worker held and did not acknowledge comes again at once (JetStream
        makes the consumer again from its oldest unacknowledged message)."""
        consumer = self._consumers.get(durable)
        if consumer is None:
            return 0
        now = self._now()
        for seq in consumer.pending:
            consumer.pending[seq] = now
        return len(consumer.pending)

    async def close(self) -> None:
        return None
