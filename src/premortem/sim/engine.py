"""The discrete-event service model: arrivals → bounded queue → workers → connection pool → reply.

A request (one *attempt* of a client call) arrives, takes a free worker or waits in a bounded FIFO
queue (dropped when it is full). A worker checks a database connection out of the pool for the
whole request — the per-request connection pattern of Rails, Django and open-session-in-view —
waiting when the pool is empty (and failing after `pool_timeout_s`). It then holds both for the
CPU time plus the query time; each other query in flight stretches the query by
`lock_contention` (row and lock waits). The client gives up after `timeout_s` and retries after an
exponential backoff with jitter; the server does not know and finishes the work anyway, which is
how retries amplify load.

Lean by design, because What-If runs many of these: a request is an integer id (its index in
`Trace.arrivals`), never an object; arrival and completion are its only events (SimPy `Timeout`s
with callbacks); client deadlines expire in arrival order, so one sweeping process finds them by
walking the ids. Only times are recorded, appended to a `Trace` and reduced by numpy afterwards;
connections in use are derived (busy workers − workers waiting for a connection + leaked ones).
Time comes only from `env.now`; randomness only from the seed, one stream per source of noise so
that changing one parameter leaves the other streams untouched (common random numbers across a
What-If grid).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import simpy
from simpy.events import Timeout

from premortem.sim.faults import FaultSpec

_CHUNK = 4096


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Resolved parameters of one run (see `premortem.sim.params` for their documentation)."""

    request_rate: float
    service_time_s: float
    workers: int
    queue_capacity: float = math.inf
    burstiness: float = 1.0
    diurnal_amplitude: float = 0.0
    diurnal_period_s: float = 86_400.0
    pool_size: int = 0
    query_time_s: float = 0.0
    lock_contention: float = 0.0
    pool_timeout_s: float = math.inf
    timeout_s: float = math.inf
    retries: int = 0
    backoff_s: float = 0.1


@dataclass(slots=True)
class Trace:
    """Raw times recorded during a run; intervals are kept as separate start and end lists."""

    arrivals: list[float] = field(default_factory=list)  # indexed by request id
    drops: list[float] = field(default_factory=list)
    failures: list[float] = field(default_factory=list)  # client timeouts and pool timeouts
    successes: list[float] = field(default_factory=list)
    done_at: list[float] = field(default_factory=list)  # every completion, for latency
    latency: list[float] = field(default_factory=list)
    busy_start: list[float] = field(default_factory=list)
    busy_end: list[float] = field(default_factory=list)
    queue_in: list[float] = field(default_factory=list)
    queue_out: list[float] = field(default_factory=list)
    wait_in: list[float] = field(default_factory=list)  # waiting for a connection
    wait_out: list[float] = field(default_factory=list)
    pool_wait: list[float] = field(default_factory=list)  # aligned with wait_out
    exhausted_start: list[float] = field(default_factory=list)
    exhausted_end: list[float] = field(default_factory=list)
    leaked_at: list[float] = field(default_factory=list)
    worker_capacity: list[tuple[float, int]] = field(default_factory=list)
    faults: list[tuple[float, str, FaultSpec]] = field(default_factory=list)


def _stream(draw: Callable[[int], Any]) -> Iterator[float]:
    """Endless floats drawn in numpy chunks: a per-value numpy call would dominate the run."""
    while True:
        yield from draw(_CHUNK).tolist()


class ServiceModel:
    """The model's state and its SimPy processes. Build, then `env.run(until=...)`."""

    def __init__(
        self,
        env: simpy.Environment,
        config: ServiceConfig,
        *,
        seed: int,
        faults: Sequence[FaultSpec] = (),
    ) -> None:
        self.env = env
        self.config = config
        self.trace = Trace()
        gens = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]
        shape = 1.0 / config.burstiness
        self._gaps = _stream(lambda n: gens[0].gamma(shape, config.burstiness, n))
        self._cpu = _stream(lambda n: gens[1].exponential(config.service_time_s, n))
        self._query = _stream(lambda n: gens[2].exponential(config.query_time_s, n))
        self._uniform = _stream(gens[3].random)
        self._queue: deque[int] = deque()
        self._waiters: deque[tuple[int, float]] = deque()
        self._retry_attempt: dict[int, int] = {}  # request id → attempt, for retries only
        self._answered = bytearray()  # per request id: has the client had its answer?
        self._next_deadline = 0  # the oldest request id whose deadline is not yet checked
        self._busy = 0
        self._capacity = config.workers
        self._lost_workers = 0.0
        self._in_use = 0
        self._added_latency = 0.0
        self._cpu_factor = 1.0
        self._leak = 0.0
        self._rate_factor = 1.0
        # Hot-path copies of config values (an attribute chain per request adds up).
        self._pool_size = config.pool_size
        self._queue_capacity = config.queue_capacity
        self._retries = config.retries
        self._backoff_s = config.backoff_s
        self.trace.worker_capacity.append((0.0, config.workers))
        self._schedule_arrival()
        if math.isfinite(config.timeout_s) or (
            config.pool_size and math.isfinite(config.pool_timeout_s)
        ):
            env.process(self._sweep())
        for fault in faults:
            env.process(self._fault(fault))

    # ------------------------------------------------------------------ arrivals and admission

    def _schedule_arrival(self) -> None:
        cfg = self.config
        rate = cfg.request_rate * self._rate_factor
        if cfg.diurnal_amplitude:
            phase = 2 * math.pi * self.env.now / cfg.diurnal_period_s
            rate *= 1 + cfg.diurnal_amplitude * math.sin(phase)
        Timeout(self.env, next(self._gaps) / rate).callbacks.append(self._on_arrival)

    def _on_arrival(self, _event: simpy.Event) -> None:
        self._arrive(0)
        self._schedule_arrival()

    def _on_retry(self, event: simpy.Event) -> None:
        self._arrive(event.value)  # type: ignore[arg-type]  # the attempt number

    def _arrive(self, attempt: int) -> None:
        now = self.env.now
        trace = self.trace
        rid = len(trace.arrivals)
        trace.arrivals.append(now)
        if self._busy < self._capacity:
            self._answered.append(0)
            self._start(rid, now)
        elif len(self._queue) < self._queue_capacity:
            self._answered.append(0)
            self._queue.append(rid)
            trace.queue_in.append(now)
        else:
            self._answered.append(1)
            trace.drops.append(now)
            self._retry_after(attempt, now)
            return
        if attempt:
            self._retry_attempt[rid] = attempt

    def _retry(self, rid: int, failed_at: float) -> None:
        self._retry_after(self._retry_attempt.pop(rid, 0), failed_at)

    def _retry_after(self, attempt: int, failed_at: float) -> None:
        if attempt >= self._retries:
            return
        due = failed_at + self._backoff_s * (2**attempt) * (0.5 + next(self._uniform))
        event = Timeout(self.env, max(0.0, due - self.env.now), attempt + 1)
        event.callbacks.append(self._on_retry)

    # ------------------------------------------------------------------ workers and the pool

    def _start(self, rid: int, now: float) -> None:
        self._busy += 1
        self.trace.busy_start.append(now)
        pool_size = self._pool_size
        if not pool_size:
            hold = next(self._cpu) * self._cpu_factor + self._added_latency
        elif self._in_use < pool_size:
            self._in_use += 1
            hold = next(self._cpu) * self._cpu_factor + self._query_time()
        else:
            if not self._waiters:
                self.trace.exhausted_start.append(now)
            self._waiters.append((rid, now))
            self.trace.wait_in.append(now)
            return
        Timeout(self.env, hold, rid).callbacks.append(self._finish)

    def _query_time(self) -> float:
        contention = 1 + self.config.lock_contention * (self._in_use - 1)
        return next(self._query) * contention + self._added_latency

    def _finish(self, event: simpy.Event) -> None:
        rid = cast(int, event.value)
        now = self.env.now
        trace = self.trace
        if self._pool_size:
            self._release_connection(now)
        trace.done_at.append(now)
        trace.latency.append(now - trace.arrivals[rid])
        if not self._answered[rid]:
            self._answered[rid] = 1
            trace.successes.append(now)
        self._free_worker(now)

    def _release_connection(self, now: float) -> None:
        if self._leak and next(self._uniform) < self._leak:
            self.trace.leaked_at.append(now)  # never returned: it stays in use for good
        elif self._waiters:
            rid, since = self._waiters.popleft()  # the connection passes straight on
            self._end_wait(since, now)
            hold = next(self._cpu) * self._cpu_factor + self._query_time()
            Timeout(self.env, hold, rid).callbacks.append(self._finish)
        else:
            self._in_use -= 1

    def _end_wait(self, since: float, now: float) -> None:
        trace = self.trace
        trace.wait_out.append(now)
        trace.pool_wait.append(now - since)
        if not self._waiters:
            trace.exhausted_end.append(now)

    def _free_worker(self, now: float) -> None:
        self._busy -= 1
        self.trace.busy_end.append(now)
        if self._queue:
            self._drain_queue(now)

    def _drain_queue(self, now: float) -> None:
        queue = self._queue
        while queue and self._busy < self._capacity:
            self.trace.queue_out.append(now)
            self._start(queue.popleft(), now)

    # ------------------------------------------------------------------ deadlines

    def _sweep(self) -> Generator[simpy.Event, Any, None]:
        cfg = self.config
        shortest = min(cfg.timeout_s, cfg.pool_timeout_s if cfg.pool_size else math.inf)
        interval = min(0.05, max(0.002, shortest / 20))
        while True:
            yield Timeout(self.env, interval)
            now = self.env.now
            if math.isfinite(cfg.timeout_s):
                self._expire_clients(now)
            self._expire_pool_waiters(now)

    def _expire_clients(self, now: float) -> None:
        arrivals, answered = self.trace.arrivals, self._answered
        timeout, rid, last = self.config.timeout_s, self._next_deadline, len(arrivals)
        while rid < last and arrivals[rid] + timeout <= now:
            if not answered[rid]:
                answered[rid] = 1
                gave_up = arrivals[rid] + timeout
                self.trace.failures.append(gave_up)
                self._retry(rid, gave_up)
            rid += 1
        self._next_deadline = rid

    def _expire_pool_waiters(self, now: float) -> None:
        waiters, limit = self._waiters, self.config.pool_timeout_s
        while waiters and waiters[0][1] + limit <= now:
            rid, since = waiters.popleft()
            self._end_wait(since, now)
            if not self._answered[rid]:
                self._answered[rid] = 1
                self.trace.failures.append(since + limit)
                self._retry(rid, since + limit)
            self._free_worker(now)

    # ------------------------------------------------------------------ faults

    def _fault(self, fault: FaultSpec) -> Generator[simpy.Event, Any, None]:
        yield Timeout(self.env, fault.start_s)
        self._apply(fault, +1)
        self.trace.faults.append((self.env.now, "fault_started", fault))
        if fault.duration_s is not None:
            yield Timeout(self.env, fault.duration_s)
            self._apply(fault, -1)
            self.trace.faults.append((self.env.now, "fault_ended", fault))

    def _apply(self, fault: FaultSpec, sign: int) -> None:
        value = fault.effective_value
        if fault.type == "latency":
            self._added_latency += sign * value
        elif fault.type == "cpu_hog":
            self._cpu_factor *= value**sign
        elif fault.type == "connection_leak":
            self._leak += sign * value
        elif fault.type == "load_spike":
            self._rate_factor *= value**sign
        else:
            self._lost_workers += sign * value
            self._set_capacity(max(0, self.config.workers - round(self._lost_workers)))

    def _set_capacity(self, capacity: int) -> None:
        now = self.env.now
        self._capacity = capacity
        self.trace.worker_capacity.append((now, capacity))
        self._drain_queue(now)
