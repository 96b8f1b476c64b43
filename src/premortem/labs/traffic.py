"""Traffic against a lab's app: the inventory app's steady load, and the runner's own probe (a
checkout by default; the bookings lab probes a booking)."""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Self

HOT_SKUS = [f"SKU-{n:04d}" for n in range(1, 9)]


@dataclass(frozen=True, slots=True)
class Answer:
    sent_ns: int
    answered_ns: int
    status: int  # 0: no answer (timeout, refused)
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == 200


def call(url: str, body: dict[str, object] | None, *, timeout_s: float) -> Answer:
    sent = time.time_ns()
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            return Answer(sent, time.time_ns(), answer.status, "")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        with contextlib.suppress(ValueError, AttributeError):
            detail = str(json.loads(detail).get("error") or detail)
        return Answer(sent, time.time_ns(), exc.code, detail)
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        return Answer(sent, time.time_ns(), 0, f"no answer within {timeout_s:g} s ({exc})")


class Ticker:
    """Calls `action` every `interval_s` on a pool of threads, so a slow call delays nothing."""

    def __init__(self, interval_s: float, action: object, *, threads: int) -> None:
        self.interval_s = interval_s
        self.action = action
        self._pool = ThreadPoolExecutor(threads)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Ticker:
        self._thread.start()
        return self

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self._pool.submit(self.action)  # type: ignore[arg-type]
            next_at += self.interval_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self._pool.shutdown(wait=True, cancel_futures=True)


class Traffic:
    """Requests at ~rps on a pool of threads (`_one` each), keeping the failed ones: the
    earliest failure the runner's traffic saw is when a run failed."""

    def __init__(self, base_url: str, *, rps: float, seed: int) -> None:
        self.base_url = base_url
        self.rng = random.Random(seed)
        self.failures: list[Answer] = []
        self._lock = threading.Lock()
        self._ticker = Ticker(1.0 / rps, self._one, threads=64)

    def _one(self) -> None:
        raise NotImplementedError

    def _keep(self, answer: Answer) -> None:
        if not answer.ok:
            with self._lock:
                self.failures.append(answer)

    def first_failure(self, since_ns: int) -> Answer | None:
        with self._lock:
            failed = [a for a in self.failures if a.sent_ns >= since_ns]
        return min(failed, key=_answered, default=None)

    def start(self) -> Self:
        self._ticker.start()
        return self

    def stop(self) -> None:
        self._ticker.stop()


class Load(Traffic):
    """~rps requests a second: half stock lookups, half checkouts of popular items, and
    `noise_per_s` of them client mistakes (`_noise`). Failed checkouts are kept."""

    def __init__(self, base_url: str, *, rps: float, seed: int, noise_per_s: float = 0.0) -> None:
        super().__init__(base_url, rps=rps, seed=seed)
        self.noise_share = noise_per_s / rps

    def _one(self) -> None:
        draw = self.rng.random()
        if draw < self.noise_share:
            self._noise()
            return
        if draw < 0.5:
            sku = f"SKU-{self.rng.randint(1, 300):04d}"
            call(f"{self.base_url}/api/items/{sku}", None, timeout_s=5)
            return
        sku = self.rng.choice([*HOT_SKUS, "SKU-0009", "SKU-0010"])
        self._keep(call(f"{self.base_url}/api/checkout", {"sku": sku, "qty": 1}, timeout_s=5))

    def _noise(self) -> None:
        """A client's mistake, which the app rejects with an ERROR line of its own: the errors a
        healthy system logs every day (never counted as a failure of the run)."""
        if self.rng.random() < 0.75:
            body: dict[str, object] = {"sku": self.rng.choice(HOT_SKUS), "qty": 0}
        else:
            body = {"sku": f"SKU-{self.rng.randint(9000, 9999)}", "qty": 1}
        call(f"{self.base_url}/api/checkout", body, timeout_s=5)


class Probe:
    """The runner's steady-state check: a checkout every `interval_s`, answered 200 within
    `timeout_s`, or it failed. Every answer is kept, in the order they arrived."""

    def __init__(
        self,
        base_url: str,
        *,
        interval_s: float = 0.5,
        timeout_s: float = 4.0,
        seed: int = 0,
        path: str = "/api/checkout",
        body: Callable[[random.Random], dict[str, object]] | None = None,
    ) -> None:
        self.base_url = base_url
        self.path = path
        self.body = body or (lambda rng: {"sku": rng.choice(HOT_SKUS), "qty": 1})
        self.timeout_s = timeout_s
        self.rng = random.Random(seed)
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._ticker = Ticker(interval_s, self._one, threads=16)

    def _one(self) -> None:
        answer = call(f"{self.base_url}{self.path}", self.body(self.rng), timeout_s=self.timeout_s)
        with self._lock:
            self.answers.append(answer)

    def since(self, since_ns: int) -> list[Answer]:
        with self._lock:
            return sorted((a for a in self.answers if a.sent_ns >= since_ns), key=_answered)

    def first_failure(self, since_ns: int) -> Answer | None:
        return next((a for a in self.since(since_ns) if not a.ok), None)

    def healthy_since(self, since_ns: int, *, count: int) -> bool:
        """The last `count` probes sent after `since_ns` all passed."""
        answers = self.since(since_ns)
        return len(answers) >= count and all(a.ok for a in answers[-count:])

    def start(self) -> Probe:
        self._ticker.start()
        return self

    def stop(self) -> None:
        self._ticker.stop()


def _answered(answer: Answer) -> int:
    return answer.answered_ns
