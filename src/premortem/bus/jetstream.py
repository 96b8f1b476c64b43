"""The bus on NATS JetStream (``PREMORTEM_BUS_URL=nats://host:4222``).

One stream holds every subject under the prefix (``<prefix>.>``), with a duplicate window so a
batch re-sent after a lost answer is stored once (each message carries ``Nats-Msg-Id``).
Publishing is batched and asynchronous (`publish_async`); `publish` returns when JetStream has
acknowledged every message. Consumers are durable pull consumers with one `filter_subject` each
(what NATS 2.9 supports), explicit acks and an explicit `ack_wait`: a message a worker took and
never acknowledged is delivered again once that passes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from premortem.bus import ACK_WAIT_S, DUPLICATE_WINDOW_S, PREFIX, Incoming, Outgoing

MSG_ID = "Nats-Msg-Id"
PUBLISH_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 8.0
log = logging.getLogger(__name__)
# The stream keeps messages this long (then drops them, analysed or not): a week of records for
# workers that were down, without a disk that fills for ever. Analysed records are in the store.
MAX_AGE_S = 7 * 86_400.0


@dataclass(slots=True)
class _Message:
    msg: Any  # nats.aio.msg.Msg

    @property
    def id(self) -> str:
        return str((self.msg.headers or {}).get(MSG_ID, ""))

    @property
    def subject(self) -> str:
        return str(self.msg.subject)

    @property
    def data(self) -> bytes:
        return bytes(self.msg.data)

    @property
    def deliveries(self) -> int:
        return int(self.msg.metadata.num_delivered)

    @property
    def position(self) -> int:
        return int(self.msg.metadata.sequence.stream)

    async def ack(self) -> None:
        await self.msg.ack()

    async def nak(self) -> None:
        await self.msg.nak()


async def _connection_trouble(error: Exception) -> None:
    """The client's errors go to the log (by default it prints every reconnect attempt's
    traceback on stderr)."""
    log.warning("NATS connection: %s", error)


class JetStreamBus:
    """Connect with `await JetStreamBus.connect(url)`; the stream is created if missing."""

    def __init__(
        self, connection: Any, *, stream: str, ack_wait_s: float, max_ack_pending: int
    ) -> None:
        self._nc = connection
        self._js = connection.jetstream()
        self.stream = stream
        self.ack_wait_s = ack_wait_s
        self.max_ack_pending = max_ack_pending
        self._subscriptions: dict[str, Any] = {}

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        prefix: str = PREFIX,
        stream: str = "PREMORTEM",
        ack_wait_s: float = ACK_WAIT_S,
        duplicate_window_s: float = DUPLICATE_WINDOW_S,
        max_ack_pending: int = 100_000,
        max_age_s: float = MAX_AGE_S,
    ) -> JetStreamBus:
        import nats  # only a scale-out process needs the client

        # Reconnects for ever once connected (a NATS restart is waited out), but the first
        # connection is given CONNECT_TIMEOUT_S: a wrong URL is an error, not a hang.
        try:
            connection = await asyncio.wait_for(
                nats.connect(
                    url,
                    connect_timeout=5,
                    max_reconnect_attempts=-1,
                    allow_reconnect=True,
                    error_cb=_connection_trouble,
                ),
                timeout=CONNECT_TIMEOUT_S,
            )
        except TimeoutError as exc:
            raise ConnectionError(f"no NATS server answered at {url}") from exc
        bus = cls(connection, stream=stream, ack_wait_s=ack_wait_s, max_ack_pending=max_ack_pending)
        await bus._ensure_stream(f"{prefix}.>", duplicate_window_s, max_age_s)
        return bus

    async def _ensure_stream(
        self, subjects: str, duplicate_window_s: float, max_age_s: float
    ) -> None:
        from nats.js.api import StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        config = StreamConfig(
            name=self.stream,
            subjects=[subjects],
            storage=StorageType.FILE,
            duplicate_window=duplicate_window_s,
            max_age=max_age_s,
        )
        try:
            await self._js.stream_info(self.stream)
        except NotFoundError:
            await self._js.add_stream(config)

    async def publish(self, subject: str, messages: Sequence[Outgoing]) -> None:
        futures = [
            await self._js.publish_async(
                subject, message.data, stream=self.stream, headers={MSG_ID: message.id}
            )
            for message in messages
        ]
        if futures:
            await asyncio.wait_for(asyncio.gather(*futures), timeout=PUBLISH_TIMEOUT_S)

    async def pull(
        self, subject: str, *, durable: str, batch: int, timeout_s: float
    ) -> list[Incoming]:
        import nats.errors

        subscription = await self._subscription(subject, durable)
        try:
            messages = await subscription.fetch(batch, timeout=timeout_s)
        except (nats.errors.TimeoutError, TimeoutError):  # the client raises either
            return []
        return [_Message(m) for m in messages]

    async def _subscription(self, subject: str, durable: str) -> Any:
        found = self._subscriptions.get(durable)
        if found is None:
            found = await self._js.pull_subscribe(
                subject, durable=durable, stream=self.stream, config=self._config(subject, durable)
            )
            self._subscriptions[durable] = found
        return found

    def _config(self, subject: str, durable: str, *, start_seq: int | None = None) -> Any:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        return ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL
            if start_seq is None
            else DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start_seq,
            ack_wait=self.ack_wait_s,
            max_deliver=-1,
            max_ack_pending=self.max_ack_pending,
            filter_subject=subject,
        )

    async def take_over(self, subject: str, durable: str) -> int:
        """Take a consumer over from a worker that stopped: when it has messages out that nobody
        acknowledged, or was made with another ack wait, it is made again from the oldest
        message not acknowledged, so those come again at once and in stream order — not after
        their ack wait ran out (30 s in which a prediction role taken over alerted nothing, a
        trial), nor after newer ones. Messages acknowledged past that point come again too; the
        worker's checkpoint position tells them apart (`Progress.is_new`). Returns how many were
        out (0: the consumer was kept as it is)."""
        from nats.js.errors import NotFoundError

        try:
            info = await self._js.consumer_info(self.stream, durable)
        except NotFoundError:
            return 0
        out = int(info.num_ack_pending or 0)
        if not out and info.config.ack_wait == self.ack_wait_s:
            return 0
        floor = int(info.ack_floor.stream_seq) if info.ack_floor else 0
        held = self._subscriptions.pop(durable, None)
        if held is not None:
            await held.unsubscribe()
        await self._js.delete_consumer(self.stream, durable)
        await self._js.add_consumer(
            self.stream, self._config(subject, durable, start_seq=floor + 1)
        )
        return out

    async def backlog(self, subject: str, durable: str) -> tuple[int, int | None]:
        """Messages of `subject` the consumer `durable` has not acknowledged, and when the oldest
        of them was published (ns; None when there is none). A consumer not created yet has
        every message of its subject ahead of it."""
        from nats.js.errors import NotFoundError

        try:
            info = await self._js.consumer_info(self.stream, durable)
            pending = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
            after = int(info.ack_floor.stream_seq) if info.ack_floor else 0
        except NotFoundError:
            state = (await self._js.stream_info(self.stream, subjects_filter=subject)).state
            pending = sum((state.subjects or {}).values())  # the filter's subjects only
            after = 0
        if not pending:
            return 0, None
        try:
            oldest = await self._js.get_msg(self.stream, seq=after + 1, subject=subject, next=True)
        except NotFoundError:  # gone meanwhile (acknowledged, or past the stream's max age)
            return pending, None
        return pending, int(oldest.time.timestamp() * 1e9) if oldest.time else None

    async def delete_stream(self) -> None:
        """Remove the stream and its consumers (tests and `premortem` maintenance only)."""
        await self._js.delete_stream(self.stream)

    async def close(self) -> None:
        # Not `drain()`: it waits out a pull request still lingering on the server (30 s).
        # Every publish was acknowledged before it returned; unacknowledged pulls come again.
        for subscription in self._subscriptions.values():
            await subscription.unsubscribe()
        self._subscriptions.clear()
        await self._nc.flush()
        await self._nc.close()
