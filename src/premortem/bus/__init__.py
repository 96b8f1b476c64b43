"""The bus between the server and the analysis workers (issue 14, scale-out).

What it is for (runtime/handoff.py, runtime/worker.py, docs/scaling.md): the server publishes
accepted records to a stream and answers only once the stream holds them; workers pull them
through durable consumers, one per partition, and acknowledge a message only after what it
produced is stored. A message not acknowledged within the consumer's `ack_wait`
(its worker died, or stalled) is delivered again, to whichever worker pulls that partition next;
writes are idempotent by record id, so a redelivery stores nothing twice.

- `Bus`: the port (`publish`, `pull`, `close`); `Incoming`: a pulled message (`ack`, `nak`).
- `MemoryBus` (`premortem.bus.memory`): the in-process twin, for tests (it keeps every message).
- `JetStreamBus` (`premortem.bus.jetstream`): NATS JetStream, selected by
  ``PREMORTEM_BUS_URL=nats://host:4222``.

Subjects are ``<prefix>.<kind>.<partition>`` (`subject`); a service always maps to the same
partition (`partition_of`: a stable hash, never Python's per-process `hash`). One conformance
suite (tests/integration/bus) runs against both implementations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import blake2b
from typing import Protocol

PREFIX = "premortem"
PREDICT = "predict"  # the durable consumer of every partition that the predicting worker pulls
ACK_WAIT_S = 30.0  # a worker acknowledges a batch after storing what it produced
DUPLICATE_WINDOW_S = 120.0  # a batch re-sent within this is stored once (by message id)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to publish: `id` makes a re-sent one a duplicate (the stream keeps one)."""

    id: str
    data: bytes


class Incoming(Protocol):
    """A pulled message; acknowledge it once what it produced is stored."""

    @property
    def id(self) -> str: ...

    @property
    def subject(self) -> str: ...

    @property
    def data(self) -> bytes: ...

    @property
    def deliveries(self) -> int:
        """1 on first delivery; more when it was delivered before and not acknowledged."""
        ...

    @property
    def position(self) -> int:
        """The message's place in the stream: increasing with publish order, the same on
        every delivery (what a checkpoint records it has covered)."""
        ...

    async def ack(self) -> None: ...

    async def nak(self) -> None:
        """Give it back now: it is delivered again without waiting for `ack_wait`."""
        ...


class Bus(Protocol):
    async def publish(self, subject: str, messages: Sequence[Outgoing]) -> None:
        """Returns once the stream holds every message (raises if it does not)."""
        ...

    async def pull(
        self, subject: str, *, durable: str, batch: int, timeout_s: float
    ) -> list[Incoming]:
        """Up to `batch` messages of `subject` for the durable consumer `durable` (created on
        first use; it remembers what was acknowledged across restarts), oldest first; [] when
        none came within `timeout_s`."""
        ...

    async def take_over(self, subject: str, durable: str) -> int:
        """Before a new owner's first pull: what the consumer's last owner took and did not
        acknowledge comes again at once, oldest first (not after its ack wait). Returns how
        many messages that was."""
        ...

    async def close(self) -> None: ...


def subject(kind: str, partition: int, *, prefix: str = PREFIX) -> str:
    return f"{prefix}.{kind}.{partition}"


def stream_name(prefix: str) -> str:
    """The JetStream stream of a deployment named `prefix` (stream names are upper case)."""
    return prefix.upper()


def every_partition(kind: str, *, prefix: str = PREFIX) -> str:
    """The subject filter of every partition of `kind` (one consumer that sees them all)."""
    return f"{prefix}.{kind}.>"


def partition_of(service: str, partitions: int) -> int:
    """The partition of a service's records: stable across processes and runs."""
    digest = blake2b(service.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions
