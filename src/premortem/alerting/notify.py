"""Delivery: the Notifier port and the dispatcher that retries it.

    PremortemError
     └── NotifyError(retryable)   a notifier could not deliver a batch
          retryable=True          5xx, 429, 408, connection errors and timeouts: try again later
          retryable=False         any other 4xx, a payload the receiver refuses: dead letter now

Each route (a notifier and the events it wants) has its own FIFO queue and worker thread, so a
slow receiver delays only itself and each receiver sees an alert's events in order. A retryable
failure is tried again with exponential backoff (capped at `max_backoff_s`) until it is
delivered, until every alert in it has resolved (a resolve for them waits behind it in the
queue), or until the batch is older than `max_age_s`; then it becomes a dead letter in the store.
A receiver is never told that an alert resolved when it was never told that it fired: the
resolve of an alert whose firing was given up is recorded as `skipped`, not sent. Every outcome
is logged (`record_delivery`): delivery is at-least-once.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from premortem.alerting.model import AlertEvent, DeliveryRecord
from premortem.alerting.repository import AlertRepository
from premortem.alerting.stages import Batch
from premortem.clock import Clock
from premortem.errors import ConfigError, PremortemError

log = logging.getLogger(__name__)

ALERT_EVENTS = frozenset({AlertEvent.FIRING, AlertEvent.ESCALATED, AlertEvent.RESOLVED})
ALL_EVENTS = frozenset(AlertEvent)

MAX_AGE_SETTING = "PREMORTEM_NOTIFY_MAX_AGE_S"
DEFAULT_MAX_AGE_S = 3600.0


def notify_max_age_s(environ: Mapping[str, str] = os.environ) -> float:
    """How long a batch is retried at most (PREMORTEM_NOTIFY_MAX_AGE_S, default one hour).

    Read here until `Settings.notify` has a field for it.
    """
    raw = environ.get(MAX_AGE_SETTING, "")
    if not raw:
        return DEFAULT_MAX_AGE_S
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{MAX_AGE_SETTING} must be a number of seconds, not {raw!r}") from exc
    if not value > 0:
        raise ConfigError(f"{MAX_AGE_SETTING} must be positive, not {raw!r}")
    return value


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
    queue: queue.Queue[tuple[Batch, float] | None] = field(default_factory=queue.Queue)
    thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # alert id -> resolve batches for it waiting in this lane (a firing before them is moot)
    resolving: dict[str, int] = field(default_factory=dict)
    # alerts whose firing this receiver never got: their resolve is not sent either
    unannounced: set[str] = field(default_factory=set)
    # batches put and not yet through delivery (delivered, given up), oldest first
    outstanding: list[Batch] = field(default_factory=list)

    def undelivered(self) -> list[Batch]:
        """The batch being delivered and those queued behind it, in order."""
        with self.lock:
            return list(self.outstanding)

    def done(self, batch: Batch) -> None:
        with self.lock:
            for index, waiting in enumerate(self.outstanding):
                if waiting is batch:
                    del self.outstanding[index]
                    return

    def put(self, batch: Batch, enqueued_s: float) -> None:
        with self.lock:
            self.outstanding.append(batch)
            if batch.event is AlertEvent.RESOLVED:
                for alert in batch.alerts:
                    self.resolving[alert.id] = self.resolving.get(alert.id, 0) + 1
        self.queue.put((batch, enqueued_s))

    def resolved(self, batch: Batch) -> bool:
        """Whether every alert of a (non-resolve) batch has a resolve waiting behind it."""
        with self.lock:
            return all(alert.id in self.resolving for alert in batch.alerts)

    def taken(self, batch: Batch) -> None:
        """A resolve batch leaves the queue: its alerts are no longer waiting to resolve."""
        with self.lock:
            for alert in batch.alerts:
                left = self.resolving.pop(alert.id, 1) - 1
                if left > 0:
                    self.resolving[alert.id] = left


class Dispatcher:
    def __init__(
        self,
        routes: Sequence[Route],
        store: AlertRepository,
        clock: Clock,
        *,
        max_attempts: int | None = None,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_age_s: float = 3600.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_age_s = max_age_s
        self._lanes = [_Lane(route) for route in routes]
        self._stopping = threading.Event()
        self._sleep = sleep or self._interruptible_sleep

    @property
    def routes(self) -> list[Route]:
        return [lane.route for lane in self._lanes]

    def enqueue(self, batch: Batch) -> None:
        """Never blocks: the queues are unbounded, and the workers do the waiting."""
        now = time.monotonic()
        for lane in self._lanes:
            if batch.event in lane.route.events:
                lane.put(batch, now)

    def pending(self) -> int:
        return sum(lane.queue.qsize() for lane in self._lanes)

    def undelivered(self) -> dict[str, list[Batch]]:
        """Per route, what is not delivered yet (being delivered, or queued), in order."""
        return {lane.route.name: lane.undelivered() for lane in self._lanes}

    def requeue(self, undelivered: Mapping[str, Sequence[Batch]]) -> None:
        """Queue batches another process did not deliver (`undelivered`), each on its route."""
        now = time.monotonic()
        for lane in self._lanes:
            for batch in undelivered.get(lane.route.name, ()):
                lane.put(batch, now)

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
                    item = lane.queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    self._take(lane, *item)

    def _work(self, lane: _Lane) -> None:
        while True:
            item = lane.queue.get()
            if item is None:
                return
            self._take(lane, *item)

    def _take(self, lane: _Lane, batch: Batch, enqueued_s: float) -> None:
        try:
            self._deliver_batch(lane, batch, enqueued_s)
        finally:
            lane.done(batch)

    def _deliver_batch(self, lane: _Lane, batch: Batch, enqueued_s: float) -> None:
        if batch.event is not AlertEvent.RESOLVED:
            if self._deliver(lane, batch, enqueued_s):
                lane.unannounced.difference_update(a.id for a in batch.alerts)
            elif batch.event is AlertEvent.FIRING:  # a lost escalation leaves it announced
                lane.unannounced.update(a.id for a in batch.alerts)
            return
        lane.taken(batch)
        told = tuple(a for a in batch.alerts if a.id not in lane.unannounced)
        lane.unannounced.difference_update(a.id for a in batch.alerts)
        if not told:
            error = "its firing was never delivered"
            self._record(lane.route, batch, status="skipped", attempts=0, error=error)
            return
        self._deliver(lane, replace(batch, alerts=told), enqueued_s)

    def _deliver(self, lane: _Lane, batch: Batch, enqueued_s: float) -> bool:
        """Tries until delivered or given up (see the module docstring); True if delivered."""
        route = lane.route
        error = ""
        attempts = 0
        waited = 0.0
        while True:
            attempts += 1
            try:
                route.notifier.notify(batch)
            except NotifyError as exc:
                error = str(exc)
                log.warning("notify %s: attempt %d failed: %s", route.name, attempts, exc)
                if not exc.retryable:
                    break
            except Exception as exc:  # a bug in a notifier must not kill the lane
                error = f"{type(exc).__name__}: {exc}"
                log.exception("notify %s: unexpected error", route.name)
                break
            else:
                self._record(route, batch, status="delivered", attempts=attempts)
                return True
            age = max(time.monotonic() - enqueued_s, waited)
            reason = self._give_up(lane, batch, attempts=attempts, age_s=age)
            if reason:
                error = f"{error} ({reason})"
                break
            delay = min(self.backoff_s * 2 ** (attempts - 1), self.max_backoff_s)
            delay = min(delay, max(0.0, self.max_age_s - age))
            self._sleep(delay)
            waited += delay
        self._record(route, batch, status="dead", attempts=attempts, error=error)
        return False

    def _give_up(self, lane: _Lane, batch: Batch, *, attempts: int, age_s: float) -> str:
        """Why retrying a batch stops now, or "" to try again."""
        if self._stopping.is_set():
            return "dispatcher stopped"
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return f"{attempts} attempts"
        if age_s >= self.max_age_s:
            return f"older than {self.max_age_s:g} s"
        if batch.event is not AlertEvent.RESOLVED and lane.resolved(batch):
            return "the alert resolved before it could be delivered"
        return ""

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
                item = lane.queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                lane.done(item[0])
                self._record(
                    lane.route, item[0], status="dead", attempts=0, error="dispatcher stopped"
                )

    def _interruptible_sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)
