"""Scale-out's request path: accepted log records go to NATS JetStream, not to local analysis.

With `PREMORTEM_BUS_URL` set, the server validates a batch, publishes it to the partitions of its
services (`premortem.logs.<partition>`) and answers once JetStream acknowledged every message:
the records are durable in the stream. `premortem worker` processes mine, store and analyse them
(`premortem.runtime.worker`). The bus client runs on an event loop of its own, on one thread, so
the request threads, the syslog listener and the CLI all hand over the same way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from premortem.bus import PREDICT, every_partition, stream_name, subject
from premortem.bus.jetstream import JetStreamBus
from premortem.bus.records import MESSAGE_RECORDS, by_partition
from premortem.domain import LogRecord
from premortem.errors import ConfigError, Unavailable

T = TypeVar("T")
HANDOFF_TIMEOUT_S = 30.0
RETRY_AFTER_S = 5
log = logging.getLogger(__name__)


class BusHandoff:
    """The pipeline's `handoff` in scale-out (see runtime/pipeline.py's `LogHandoff`)."""

    def __init__(self, url: str, *, name: str, partitions: int, ack_wait_s: float) -> None:
        self.url = url
        self.name = name
        self.partitions = partitions
        self._records = self._messages = 0  # published by this process: records per message
        self._last_lag: tuple[int, float] = (0, 0.0)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="premortem-bus", daemon=True
        )
        self._thread.start()
        try:
            self._bus: JetStreamBus = self._run(
                JetStreamBus.connect(
                    url, prefix=name, stream=stream_name(name), ack_wait_s=ack_wait_s
                ),
            )
        except Exception as exc:
            self._stop_loop()
            raise ConfigError(
                f"cannot reach the log stream at {url} (PREMORTEM_BUS_URL): {exc}"
            ) from exc

    def publish_logs(self, records: Sequence[LogRecord]) -> int:
        """Publish the records to their partitions; returns once the stream holds them all.
        Raises `Unavailable` (HTTP 503 with Retry-After) when the stream did not acknowledge
        them: the sender sends the batch again, and the stream keeps one copy of what it got."""
        for partition, messages in by_partition(records, self.partitions).items():
            try:
                self._run(self._bus.publish(subject("logs", partition, prefix=self.name), messages))
            except Exception as exc:
                raise Unavailable(
                    f"the log stream at {self.url} did not acknowledge the batch "
                    f"({type(exc).__name__}); send it again",
                    retry_after_s=RETRY_AFTER_S,
                ) from exc
            self._messages += len(messages)
        self._records += len(records)
        return len(records)

    def lag(self) -> tuple[int, float]:
        """How far the workers are behind: records published and not yet analysed (estimated
        from the messages not acknowledged — by the partitions' consumers or by the predictor,
        whichever is further behind — at the records per message published so far), and how
        long the oldest of them has waited (seconds)."""
        everything = every_partition("logs", prefix=self.name)
        try:
            behind = [
                self._run(self._bus.backlog(subject("logs", p, prefix=self.name), f"logs-{p}"))
                for p in range(self.partitions)
            ]
            predicting = self._run(self._bus.backlog(everything, PREDICT))
        except Exception:  # the stream is unreachable: say what was last known
            log.warning("the log stream at %s did not answer for the lag", self.url)
            return self._last_lag
        published = [at for _, at in [*behind, predicting] if at is not None]
        oldest = min(published) if published else None
        pending = max(sum(count for count, _ in behind), predicting[0])
        per_message = self._records / self._messages if self._messages else MESSAGE_RECORDS
        waited = max(0.0, (time.time_ns() - oldest) / 1e9) if oldest is not None else 0.0
        self._last_lag = (round(pending * per_message), waited)
        return self._last_lag

    def close(self) -> None:
        try:
            self._run(self._bus.close())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = HANDOFF_TIMEOUT_S) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout=timeout_s)
        except TimeoutError:
            future.cancel()
            raise
