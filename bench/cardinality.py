"""High-cardinality load: bounded memory, steady throughput, template reads that keep answering.

Starts `premortem serve` as its own process (SQLite in a fresh directory) and sends JSON log
batches over HTTP at a fixed rate (default 5,000 lines/s) in which almost every line is a new
template of a new service: template `n mod 1,000,000`, service `n mod 100,000`, so a ten-minute
run shows one million distinct templates and 100,000 distinct services. Meanwhile it samples the
server's resident memory every second and times `GET /api/v1/templates` once a second, next to
`GET /healthz` as the anchor: what any request waits for on a server this busy.

Targets (issue 13), for the ten-minute run: peak RSS < 500 MB; throughput in the last minute
≥ 90 % of the first; `GET /api/v1/templates` p95 < 200 ms. A client that falls behind the rate
sends as fast as the server answers, so a slower server shows as lower lines/s.

    python bench/cardinality.py [--minutes 10] [--rate 5000] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path

import httpx
import orjson
from rich.console import Console
from rich.table import Table

from _server import start_server  # bench/_server.py

TEMPLATES = 1_000_000
SERVICES = 100_000
BATCH = 500
CLIENTS = 2
TARGET_RSS_MB = 500.0
TARGET_KEPT = 0.9
TARGET_P95_S = 0.2


def word(n: int) -> str:
    """A plain word per number: plain words name events, so each number is its own template."""
    letters = ""
    while True:
        n, digit = divmod(n, 26)
        letters = chr(ord("a") + digit) + letters
        if n == 0:
            return "q" + letters


def batch_body(first: int, count: int) -> bytes:
    now = time.time_ns()
    records = []
    for n in range(first, first + count):
        template = n % TEMPLATES
        records.append(
            {
                "timestamp": now + n % 1000,
                "service": f"svc-{n % SERVICES}",
                "severity_text": "ERROR" if n % 50 == 0 else "INFO",
                "body": f"{word(template)} handled request {n} in {n % 997}ms",
            }
        )
    return orjson.dumps(records)


@dataclass
class Load:
    url: str
    seconds: float
    rate: float
    started: float = 0.0
    acked: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, lines)
    errors: list[str] = field(default_factory=list)
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> int | None:
        """The first line number of the next batch, once its time has come (None: done)."""
        with self._lock:
            first = self._next
            self._next += BATCH
        due = self.started + first / self.rate
        if due - self.started >= self.seconds:
            return None
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        return first

    def send(self) -> None:
        with httpx.Client(base_url=self.url, timeout=120) as client:
            while (first := self.take()) is not None:
                response = client.post(
                    "/api/v1/logs",
                    content=batch_body(first, BATCH),
                    headers={"content-type": "application/json"},
                )
                if response.status_code != 200:
                    self.errors.append(f"{response.status_code} {response.text[:200]}")
                    continue
                with self._lock:
                    self.acked.append((time.perf_counter() - self.started, BATCH))

    def lines_per_s(self, since: float, until: float) -> float:
        lines = sum(n for t, n in self.acked if since <= t < until)
        return lines / max(until - since, 1e-9)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


READS = ("/api/v1/templates", "/healthz")


def watch(pid: int, url: str, stop: Event, results: Connection) -> None:
    """Every second: the server's RSS, one timed `GET /api/v1/templates` and, as the anchor,
    one timed `GET /healthz` (what any request waits for on a server this busy).

    Runs in its own process: in the load generator's process the reader would wait for the GIL
    behind the senders building their batches, and the timings would be the generator's."""
    rss: list[float] = []
    reads: dict[str, list[float]] = {path: [] for path in READS}
    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop.wait(1.0):
            rss.append(rss_mb(pid))
            for path, times in reads.items():
                started = time.perf_counter()
                response = client.get(path, params={"limit": 100} if "templates" in path else {})
                times.append(time.perf_counter() - started)
                if response.status_code != 200:
                    times[-1] = float("inf")  # a failed read counts as infinitely slow
    results.send((rss, reads))


def server_latency(metrics: str, route: str) -> dict[str, float]:
    """The server's own latency histogram of one route: cumulative count per bucket bound."""
    prefix = "premortem_request_duration_seconds_bucket{"
    found: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith(prefix) and f'route="{route}"' in line and 'method="GET"' in line:
            bound = line.split('le="')[1].split('"')[0]
            found[bound] = float(line.rsplit(" ", 1)[1])
    return found


def p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=20)[-1]


def run(minutes: float, rate: float) -> dict[str, object]:
    seconds = minutes * 60
    window = min(60.0, seconds / 2)
    with tempfile.TemporaryDirectory() as workdir:
        process, url = start_server(
            Path(workdir), {"PREMORTEM_DATABASE_URL": f"sqlite:///{workdir}/bench.db"}
        )
        try:
            start_rss = rss_mb(process.pid)
            load = Load(url, seconds, rate)
            context = multiprocessing.get_context("spawn")
            stop = context.Event()
            received, sent = context.Pipe(duplex=False)
            watcher = context.Process(target=watch, args=(process.pid, url, stop, sent))
            senders = [threading.Thread(target=load.send) for _ in range(CLIENTS)]
            watcher.start()
            load.started = time.perf_counter()
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()
            elapsed = time.perf_counter() - load.started
            stop.set()
            rss, reads = received.recv()
            watcher.join()
            rss.append(rss_mb(process.pid))
            metrics = httpx.get(f"{url}/metrics", timeout=60).text
            templates = httpx.get(f"{url}/api/v1/templates", params={"limit": 1}, timeout=60)
        finally:
            process.terminate()
            process.wait(timeout=60)
    lines = sum(n for _, n in load.acked)
    return {
        "minutes": minutes,
        "rate_lines_s": rate,
        "lines": lines,
        "seconds": round(elapsed, 1),
        "window_s": window,
        "errors": len(load.errors),
        "first_error": load.errors[0] if load.errors else None,
        "start_rss_mb": round(start_rss, 1),
        "peak_rss_mb": round(max(rss, default=start_rss), 1),
        "end_rss_mb": round(rss[-1], 1),
        "first_min_lines_s": round(load.lines_per_s(0, window)),
        "last_min_lines_s": round(load.lines_per_s(elapsed - window, elapsed)),
        "per_minute_lines_s": [
            round(load.lines_per_s(m * 60, min((m + 1) * 60, elapsed)))
            for m in range(int(elapsed // 60) + (elapsed % 60 > 1))
        ],
        "templates_p95_s": round(p95(reads["/api/v1/templates"]), 4),
        "templates_p50_s": round(statistics.median(reads["/api/v1/templates"] or [0.0]), 4),
        "templates_max_s": round(max(reads["/api/v1/templates"], default=0.0), 4),
        "templates_reads": len(reads["/api/v1/templates"]),
        "healthz_p95_s": round(p95(reads["/healthz"]), 4),
        "healthz_p50_s": round(statistics.median(reads["/healthz"] or [0.0]), 4),
        "templates_held": templates.json()["total"] if templates.status_code == 200 else None,
        "metrics": {
            line.split()[0]: float(line.split()[1])
            for line in metrics.splitlines()
            if line.startswith(("premortem_templates", "premortem_bounded_entries"))
        },
        "server_templates_latency": server_latency(metrics, "/api/v1/templates"),
    }


def verdicts(r: dict[str, object]) -> list[tuple[str, str, str, bool]]:
    peak, first, last, read = (
        float(r["peak_rss_mb"]),  # type: ignore[arg-type]
        float(r["first_min_lines_s"]),  # type: ignore[arg-type]
        float(r["last_min_lines_s"]),  # type: ignore[arg-type]
        float(r["templates_p95_s"]),  # type: ignore[arg-type]
    )
    kept = last / first if first else 0.0
    return [
        ("peak RSS", f"{peak:,.0f} MB", f"< {TARGET_RSS_MB:.0f} MB", peak < TARGET_RSS_MB),
        ("first minute", f"{first:,.0f} lines/s", f"{r['rate_lines_s']:,.0f} offered", True),
        ("last minute", f"{last:,.0f} lines/s ({kept:.0%})", "≥ 90 % of first", kept >= 0.9),
        ("templates p95", f"{read * 1000:,.0f} ms", "< 200 ms", read < TARGET_P95_S),
        ("anchor: /healthz p95", f"{float(r['healthz_p95_s']) * 1000:,.0f} ms", "-", True),  # type: ignore[arg-type]
        ("errors", str(r["errors"]), "0", r["errors"] == 0),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=5000.0, help="lines per second offered")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    console = Console()
    console.print(f"{args.minutes:g} min at {args.rate:,.0f} lines/s, new templates and services …")
    result = run(args.minutes, args.rate)
    table = Table(title=f"High cardinality over HTTP, {result['lines']:,} lines (SQLite)")
    for column in ("measure", "value", "target", "verdict"):
        table.add_column(column, justify="right")
    for name, value, target, ok in verdicts(result):
        table.add_row(name, value, target, "met" if ok else "MISSED")
    console.print(table)
    console.print(f"lines/s per minute: {result['per_minute_lines_s']}")
    if args.json:
        targets = {
            "peak_rss_mb": TARGET_RSS_MB,
            "last_over_first": TARGET_KEPT,
            "templates_p95_s": TARGET_P95_S,
        }
        args.json.write_text(json.dumps({**result, "targets": targets}, indent=2))


if __name__ == "__main__":
    main()
