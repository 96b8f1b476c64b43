"""Delivery: the Notifier port and the dispatcher that retries it.

    PremortemError
     └── NotifyError(retryable)   a notifier could not deliver a batch
          retryable=True          5xx, 429, 408, connection errors and timeouts: try again later
          retryable=False         any other 4xx, a payload the receiver refuses: dead letter now

Each route (a notifier and the events it wants) has its own FIFO queue and worker thread, so a
slow receiver delays only itself and each receiver sees an alert's events in order. A batch is
tried up to `max_attempts` times with exponential backoff; after the last try it becomes a dead
letter in the store. Every outcome is logged (`record_delivery`): delivery is at-least-once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from premortem.alerting.model import AlertEvent, DeliveryRecord
from premortem.alerting.repository import AlertRepository
from premortem.alerting.stages import Batch
from premortem.clock import Clock
from premortem.errors import PremortemError

log = logging.getLogger(__name__)

ALERT_EVENTS = frozenset({AlertEvent.FIRING, AlertEvent.ESCALATED, AlertEvent.RESOLVED})
ALL_EVENTS = frozenset(AlertEvent)


class NotifyError(PremortemError):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Notifier(Protocol):
    def notify(self, batch: Batch) -> None:
        """Delivers or raises NotifyError."""
        ...


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    notifier: Notifier
    events: frozenset[AlertEvent] = ALERT_EVENTS


@dataclass(slots=True)
class _Lane:
    route: Route
    queue: queue.Queue[Batch | None] = field(default_factory=queue.Queue)
    thread: threading.Thread | None = None


class Dispatcher:
    def __init__(
        self,
        routes: Sequence[Route],
        store: AlertRepository,
        clock: Clock,
        *,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self._lanes = [_Lane(route) for route in routes]
        self._stopping = threading.Event()
        self._sleep = sleep or self._interruptible_sleep

    @property
    def routes(self) -> list[Route]:
        return [lane.route for lane in self._lanes]

    def enqueue(self, batch: Batch) -> None:
        """Never blocks: the queues are unbounded, and the workers do the waiting."""
        for lane in self._lanes:
            if batch.event in lane.route.events:
                lane.queue.put(batch)

    def pending(self) -> int:
        return sum(lane.queue.qsize() for lane in self._lanes)

    def start(self) -> None:
        self._stopping.clear()
        for lane in self._lanes:
            if lane.thread is None or not lane.thread.is_alive():
                lane.thread = threading.Thread(
                    target=self._work, args=(lane,), name=f"notify-{lane.route.name}", daemon=True
                )
                lane.thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Lets the workers finish what is queued for up to `timeout_s`; what is left then is
        recorded as dead letters, never silently dropped."""
        deadline = time.monotonic() + timeout_s
        for lane in self._lanes:
            lane.queue.put(None)
        for lane in self._lanes:
            if lane.thread is not None:
                lane.thread.join(max(0.0, deadline - time.monotonic()))
        self._stopping.set()
        for lane in self._lanes:
            if lane.thread is not None:
                lane.thread.join(5.0)
                lane.thread = None
            self._dead_letter_rest(lane)

    def drain(self) -> None:
        """Delivers everything queued in the calling thread (tests, CLI one-shots)."""
        for lane in self._lanes:
            while True:
                try:
                    batch = lane.queue.get_nowait()
                except queue.Empty:
                    break
                if batch is not None:
                    self._deliver(lane.route, batch)

    def _work(self, lane: _Lane) -> None:
        while True:
            batch = lane.queue.get()
            if batch is None:
                return
            self._deliver(lane.route, batch)

    def _deliver(self, route: Route, batch: Batch) -> None:
        error = ""
        attempts = 0
        while attempts < self.max_attempts:
            attempts += 1
            try:
                route.notifier.notify(batch)
            except NotifyError as exc:
                error = str(exc)
                log.warning("notify %s: attempt %d failed: %s", route.name, attempts, exc)
                if not exc.retryable or attempts >= self.max_attempts or self._stopping.is_set():
                    break
                self._sleep(self.backoff_s * 2 ** (attempts - 1))
            except Exception as exc:  # a bug in a notifier must not kill the lane
                error = f"{type(exc).__name__}: {exc}"
                log.exception("notify %s: unexpected error", route.name)
                break
            else:
                self._record(route, batch, status="delivered", attempts=attempts)
                return
        self._record(route, batch, status="dead", attempts=attempts, error=error)

    def _record(
        self, route: Route, batch: Batch, *, status: str, attempts: int, error: str = ""
    ) -> None:
        payload = {"alerts": [a.to_json() for a in batch.alerts]} if status == "dead" else {}
        record = DeliveryRecord(
            batch_id=batch.id,
            route=route.name,
            event=batch.event.value,
            alert_ids=tuple(a.id for a in batch.alerts),
            status=status,
            attempts=attempts,
            time_ns=self.clock.now_ns(),
            error=error[:2000],
            payload=payload,
        )
        try:
            self.store.record_delivery(record)
        except PremortemError:
            log.exception("could not record delivery of %s to %s", batch.id, route.name)

    def _dead_letter_rest(self, lane: _Lane) -> None:
        while True:
            try:
                batch = lane.queue.get_nowait()
            except queue.Empty:
                return
            if batch is not None:
                self._record(
                    lane.route, batch, status="dead", attempts=0, error="dispatcher stopped"
                )

    def _interruptible_sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)
