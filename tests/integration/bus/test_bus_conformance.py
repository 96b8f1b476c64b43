"""One conformance suite for the bus (premortem.bus): the in-process twin and NATS JetStream.

The JetStream runs need the nats-server on 127.0.0.1:4222 (PREMORTEM_TEST_NATS_URL overrides);
unreachable, they fail, never skip. Each test has a stream of its own, deleted after it.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from premortem.bus import Bus, Outgoing, partition_of, subject
from premortem.bus.jetstream import JetStreamBus
from premortem.bus.memory import MemoryBus

pytestmark = pytest.mark.integration

NATS_URL = os.environ.get("PREMORTEM_TEST_NATS_URL", "nats://127.0.0.1:4222")
ACK_WAIT_S = 1.0
R = TypeVar("R")

Connect = Callable[[], Awaitable[Bus]]


def run(coroutine: Awaitable[R]) -> R:
    """`asyncio.run` on a thread of its own (the browser tests leave a loop on the main one)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "jetstream"])
def connect(request: pytest.FixtureRequest) -> Iterator[Connect]:
    """Opens a bus on the test's stream; every call is another connection to the same stream
    (the twin: the same object, as one process shares it)."""
    if request.param == "memory":
        shared = MemoryBus(ack_wait_s=ACK_WAIT_S)

        async def memory() -> Bus:
            return shared

        yield memory
        return
    name = f"PMTEST{uuid.uuid4().hex[:12].upper()}"
    prefix = name.lower()

    async def jetstream() -> Bus:
        return await JetStreamBus.connect(
            NATS_URL, prefix=prefix, stream=name, ack_wait_s=ACK_WAIT_S
        )

    jetstream.prefix = prefix  # type: ignore[attr-defined]
    yield jetstream

    async def cleanup() -> None:
        bus = await jetstream()
        assert isinstance(bus, JetStreamBus)
        await bus.delete_stream()
        await bus.close()

    run(cleanup())


def subj(connect: Connect, partition: int) -> str:
    return subject("logs", partition, prefix=getattr(connect, "prefix", "premortem"))


def batch(*ids: str) -> list[Outgoing]:
    return [Outgoing(i, f"record {i}".encode()) for i in ids]


async def drain(bus: Bus, where: str, durable: str, *, ack: bool = True) -> list[Any]:
    got = []
    while messages := await bus.pull(where, durable=durable, batch=100, timeout_s=0.3):
        got += messages
        if ack:
            for message in messages:
                await message.ack()
    return got


def test_a_consumer_gets_its_subject_in_order_and_only_it(connect: Connect) -> None:
    async def scenario() -> None:
        bus = await connect()
        await bus.publish(subj(connect, 0), batch("a1", "a2"))
        await bus.publish(subj(connect, 1), batch("b1"))
        await bus.publish(subj(connect, 0), batch("a3"))
        got = await drain(bus, subj(connect, 0), "w-0")
        assert [(m.id, m.data, m.deliveries) for m in got] == [
            ("a1", b"record a1", 1),
            ("a2", b"record a2", 1),
            ("a3", b"record a3", 1),
        ]
        assert {m.subject for m in got} == {subj(connect, 0)}
        assert [m.id for m in await drain(bus, subj(connect, 1), "w-1")] == ["b1"]
        await bus.close()

    run(scenario())


def test_a_batch_sent_twice_is_kept_once(connect: Connect) -> None:
    async def scenario() -> None:
        bus = await connect()
        await bus.publish(subj(connect, 0), batch("r1", "r2"))
        await bus.publish(subj(connect, 0), batch("r1", "r2", "r3"))  # the answer was lost
        assert [m.id for m in await drain(bus, subj(connect, 0), "w")] == ["r1", "r2", "r3"]
        await bus.close()

    run(scenario())


def test_what_is_not_acknowledged_comes_again_after_ack_wait(connect: Connect) -> None:
    async def scenario() -> None:
        bus = await connect()
        await bus.publish(subj(connect, 0), batch("x1", "x2"))
        first = await bus.pull(subj(connect, 0), durable="w", batch=10, timeout_s=1.0)
        assert [m.id for m in first] == ["x1", "x2"]
        await first[0].ack()  # x2 is taken and never acknowledged (its worker died)
        assert await bus.pull(subj(connect, 0), durable="w", batch=10, timeout_s=0.2) == []
        await asyncio.sleep(ACK_WAIT_S + 0.3)
        again = await bus.pull(subj(connect, 0), durable="w", batch=10, timeout_s=1.0)
        assert [(m.id, m.deliveries) for m in again] == [("x2", 2)]
        await again[0].ack()
        await asyncio.sleep(ACK_WAIT_S + 0.3)
        assert await bus.pull(subj(connect, 0), durable="w", batch=10, timeout_s=0.2) == []
        await bus.close()

    run(scenario())


def test_a_nak_gives_the_message_back_at_once(connect: Connect) -> None:
    async def scenario() -> None:
        bus = await connect()
        await bus.publish(subj(connect, 0), batch("n1"))
        (taken,) = await bus.pull(subj(connect, 0), durable="w", batch=10, timeout_s=1.0)
        await taken.nak()
        started = time.monotonic()
        (again,) = await bus.pull(subj(connect, 0), durable="w", batch=10, timeout_s=1.0)
        assert again.id == "n1" and again.deliveries == 2
        assert time.monotonic() - started < ACK_WAIT_S
        await again.ack()
        await bus.close()

    run(scenario())


def test_a_durable_consumer_resumes_where_it_was_after_a_restart(connect: Connect) -> None:
    async def scenario() -> None:
        first = await connect()
        await first.publish(subj(connect, 2), batch("d1", "d2"))
        got = await first.pull(subj(connect, 2), durable="w-2", batch=1, timeout_s=1.0)
        await got[0].ack()
        await first.close()
        second = await connect()  # the worker restarted, or another took the partition
        await second.publish(subj(connect, 2), batch("d3"))
        assert [m.id for m in await drain(second, subj(connect, 2), "w-2")] == ["d2", "d3"]
        await second.close()

    run(scenario())


def test_a_new_owner_gets_what_a_dead_one_held_at_once_and_in_order(connect: Connect) -> None:
    """A worker SIGKILLed with messages out: the one taking its consumer over must not wait for
    their ack wait (a prediction role taken over alerted nothing for 30 s, a trial)."""

    async def scenario() -> None:
        first = await connect()
        await first.publish(subj(connect, 4), batch("t1", "t2", "t3"))
        held = await first.pull(subj(connect, 4), durable="w-4", batch=2, timeout_s=1.0)
        assert [m.id for m in held] == ["t1", "t2"]
        if isinstance(first, JetStreamBus):
            await first.close()  # dies without acknowledging
        second = await connect()
        await second.publish(subj(connect, 4), batch("t4"))
        started = time.monotonic()
        assert await second.take_over(subj(connect, 4), "w-4") == 2
        got = await second.pull(subj(connect, 4), durable="w-4", batch=10, timeout_s=0.5)
        assert time.monotonic() - started < ACK_WAIT_S
        assert [m.id for m in got] == ["t1", "t2", "t3", "t4"]
        for message in got:
            await message.ack()
        await asyncio.sleep(0.5)  # JetStream takes an ack after `ack()` returns
        assert await second.take_over(subj(connect, 4), "w-4") == 0
        assert await drain(second, subj(connect, 4), "w-4") == []
        await second.close()

    run(scenario())


def test_a_consumer_taken_over_gets_the_ack_wait_now_set() -> None:
    """`PREMORTEM_BUS_ACK_WAIT_S` changed on a running deployment reached no consumer."""
    name = f"PMTEST{uuid.uuid4().hex[:12].upper()}"
    prefix = name.lower()
    where = subject("logs", 1, prefix=prefix)

    async def scenario() -> None:
        before = await JetStreamBus.connect(NATS_URL, prefix=prefix, stream=name, ack_wait_s=1.0)
        await before.publish(where, batch("a1"))
        for message in await before.pull(where, durable="w-1", batch=1, timeout_s=1.0):
            await message.ack()
        await before.close()
        after = await JetStreamBus.connect(NATS_URL, prefix=prefix, stream=name, ack_wait_s=2.5)
        try:
            assert await after.take_over(where, "w-1") == 0
            info = await after._js.consumer_info(name, "w-1")
            assert info.config.ack_wait == 2.5
            await after.publish(where, batch("a2"))
            assert [m.id for m in await drain(after, where, "w-1")] == ["a2"]
        finally:
            await after.delete_stream()
            await after.close()

    run(scenario())


def test_nothing_to_pull_returns_empty_within_the_timeout(connect: Connect) -> None:
    async def scenario() -> None:
        bus = await connect()
        started = time.monotonic()
        assert await bus.pull(subj(connect, 3), durable="idle", batch=10, timeout_s=0.3) == []
        assert time.monotonic() - started < 2.0
        await bus.close()

    run(scenario())


def test_a_service_always_maps_to_the_same_partition() -> None:
    """Stable across processes: a blake2b digest, not Python's seeded `hash`."""
    assert [partition_of(s, 8) for s in ("checkout", "db", "api", "")] == [
        partition_of(s, 8) for s in ("checkout", "db", "api", "")
    ]
    assert (
        partition_of("checkout", 8)
        == int.from_bytes(__import__("hashlib").blake2b(b"checkout", digest_size=8).digest(), "big")
        % 8
    )
    assert len({partition_of(f"svc-{i}", 4) for i in range(100)}) == 4
