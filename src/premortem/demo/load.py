"""The load generator: threads sending a steady mix of reads and writes to the demo service."""

from __future__ import annotations

import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter


class LoadGenerator:
    """`rps` requests per second spread over `threads` senders (open loop, 3 s timeout each)."""

    def __init__(self, base_url: str, *, rps: float = 25.0, threads: int = 6) -> None:
        self.base_url = base_url.rstrip("/")
        self.rps = rps
        self.threads = threads
        self.statuses: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._senders: list[threading.Thread] = []

    def start(self) -> LoadGenerator:
        for index in range(self.threads):
            sender = threading.Thread(
                target=self._send, args=(index,), name=f"load-{index}", daemon=True
            )
            self._senders.append(sender)
            sender.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for sender in self._senders:
            sender.join(4.0)

    def counts(self) -> dict[str, int]:
        with self._lock:
            ok = self.statuses[200]
            total = sum(self.statuses.values())
        return {"requests": total, "ok": ok, "errors": total - ok}

    def _send(self, index: int) -> None:
        rng = random.Random(index)
        pause = self.threads / self.rps
        next_at = time.monotonic() + rng.uniform(0, pause)
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += pause * rng.uniform(0.5, 1.5)
            self._record(self._request(rng))
            if time.monotonic() - next_at > 2.0:
                next_at = time.monotonic()  # fell behind (slow answers): do not burst to catch up

    def _request(self, rng: random.Random) -> int:
        customer = rng.randint(1, 500)
        url = f"{self.base_url}/api/orders?customer={customer}"
        data = b"{}" if rng.random() < 0.2 else None
        try:
            request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
            with urllib.request.urlopen(request, timeout=3) as response:
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return 0

    def _record(self, status: int) -> None:
        with self._lock:
            self.statuses[status] += 1
