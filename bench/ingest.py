"""Ingest throughput: JSON log batches of 1,000 over HTTP → mined → stored → analysed.

Starts `premortem serve` as its own process (SQLite in a fresh directory, then PostgreSQL in a
fresh schema), sends pre-encoded batches from a few client threads, and reports lines per second
from the first request to the last answer, after checking that every line was stored. No model
is learned first, so the predictor has nothing to evaluate (bench/scaleout.py learns one). Analysis
(windows, detectors, predictor) runs behind ingestion: the bench reads its lag from /metrics
every 0.2 s while sending, then waits for it to reach zero; `analysis_lines_per_s` is the lines
over the time from the first request until analysis caught up, `max_analysis_lag_s` the largest
lag seen. A 429 (analysis past its bound) is retried after its Retry-After, as shippers do.

Workloads: `few-templates` (eight message shapes, numbers varying) and `many-templates` (every
line a new word sequence: as many distinct templates as lines, up to the miner's cap).
Targets: ≥ 50,000 lines/s on SQLite on a 2-core machine with analysis ≥ 20,000 lines/s; on
PostgreSQL ≥ 40,000 lines/s.

    python bench/ingest.py [--lines 200000 | --seconds 60] [--clients 2] [--postgres URL|none]
                           [--json OUT] [--workload few-templates|many-templates|all]

`slowest_10s_lines_per_s`: the rate of the slowest whole ten seconds of the run (None for runs
shorter than ten seconds), so "sustained" is measured, not only the mean.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

from _server import start_server  # bench/_server.py

TARGET = 50_000
TARGET_POSTGRES = 40_000
TARGET_ANALYSIS = 20_000
BATCH = 1000
WORKLOADS = ("few-templates", "many-templates")
LETTERS = "bcdfghjklmnpqrstvwxz"
SERVICES = ("checkout", "payments", "inventory", "search")
MESSAGES = (
    "GET /api/items/{n} 200 in {ms}ms",
    "user {n} logged in from 10.0.{a}.{b}",
    "cache miss for key item:{n}",
    "db query took {ms}ms rows={a}",
    "order {n} placed total={a}.{b}",
    "connection pool wait {ms}ms active={a} idle={b}",
    "WARN slow request /api/search?q={n} {ms}ms",
    "ERROR payment gateway timeout after {ms}ms order={n}",
)


def _word(n: int) -> str:
    """A word of letters only (no digit for the masks to take), different for every n."""
    out = ""
    while True:
        n, r = divmod(n, len(LETTERS))
        out += LETTERS[r]
        if not n:
            return out + "o"


BASE_NS = 1_714_564_800_000_000_000


def make_batches(lines: int, workload: str = "few-templates", seed: int = 7) -> list[bytes]:
    """Batches of BATCH JSON records, line n stamped BASE_NS + n ms."""
    record = _many_templates_record if workload == "many-templates" else _few_templates(seed)
    return [
        json.dumps([record(b * BATCH + i) for i in range(BATCH)]).encode()
        for b in range(lines // BATCH)
    ]


def _few_templates(seed: int) -> Callable[[int], dict[str, object]]:
    rng = random.Random(seed)

    def record(n: int) -> dict[str, object]:
        message = rng.choice(MESSAGES).format(
            n=rng.randint(1, 10**6),
            ms=rng.randint(1, 3000),
            a=rng.randint(0, 255),
            b=rng.randint(0, 255),
        )
        return {
            "timestamp": BASE_NS + n * 1_000_000,
            "service": rng.choice(SERVICES),
            "severity_text": "ERROR" if message.startswith("ERROR") else "INFO",
            "body": message,
            "attributes": {"host": f"node-{n % 8}"},
        }

    return record


def _many_templates_record(n: int) -> dict[str, object]:
    words = " ".join(_word(n * 5 + k) for k in range(5))
    return {
        "timestamp": BASE_NS + n * 1_000_000,
        "service": SERVICES[n % len(SERVICES)],
        "severity_text": "INFO",
        "body": f"handler {words} finished",
    }


class LagWatch(threading.Thread):
    """Reads the analysis lag from /metrics every 0.2 s: the largest, and the last."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.max_lag_s = 0.0
        self.records = 0

    def read(self, client: httpx.Client) -> tuple[int, float]:
        values = {}
        for line in client.get("/metrics", timeout=30).text.splitlines():
            if line.startswith("premortem_analysis_lag_"):
                name, value = line.split()[:2]
                values[name] = float(value)
        return int(values.get("premortem_analysis_lag_records", 0)), values.get(
            "premortem_analysis_lag_seconds", 0.0
        )

    def run(self) -> None:
        with httpx.Client(base_url=self.url) as client:
            while not self.stop.wait(0.2):
                self.records, seconds = self.read(client)
                self.max_lag_s = max(self.max_lag_s, seconds)

    def caught_up(self, timeout_s: float = 600) -> None:
        """Wait until nothing waits for analysis (keeps the largest lag seen meanwhile)."""
        deadline = time.monotonic() + timeout_s
        with httpx.Client(base_url=self.url) as client:
            while time.monotonic() < deadline:
                records, seconds = self.read(client)
                self.max_lag_s = max(self.max_lag_s, seconds)
                if records == 0:
                    return
                time.sleep(0.05)
        raise SystemExit(f"analysis did not catch up in {timeout_s:.0f} s")


@dataclass
class Sent:
    """What `send_all` saw: seconds from the first request to the last answer, 429s retried,
    and when each batch was answered (seconds from the start)."""

    seconds: float
    refused: int
    answered_at: list[float]
    latencies: list[float]  # each batch's answer time, its retries after a 429 included

    def slowest_slice(self, slice_s: float = 10.0) -> int | None:
        """Lines per second in the slowest whole `slice_s` of the run (None if shorter): what
        "sustained" means, where the mean over the run could hide a slowdown."""
        slices = int(self.seconds // slice_s)
        if slices < 1:
            return None
        counts = [0] * slices
        for at in self.answered_at:
            if (index := int(at // slice_s)) < slices:
                counts[index] += BATCH
        return round(min(counts) / slice_s)


def send_all(
    url: str,
    batches: list[bytes],
    clients: int,
    *,
    halfway: threading.Event | None = None,
    until_s: float | None = None,
) -> Sent:
    """Send every batch from `clients` threads (or, with `until_s`, until that many seconds have
    passed); a 429 is retried after its Retry-After. `halfway` is set once half the batches were
    answered."""
    queue = list(reversed(batches))
    lock = threading.Lock()
    errors: list[str] = []
    refused = [0]
    answered: list[float] = []
    latencies: list[float] = []

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while True:
                with lock:
                    if not queue or (until_s and time.perf_counter() - started >= until_s):
                        return
                    body = queue.pop()
                sent_at = time.perf_counter()
                while True:
                    response = client.post(
                        "/api/v1/logs", content=body, headers={"content-type": "application/json"}
                    )
                    if response.status_code != 429:
                        break
                    with lock:
                        refused[0] += 1
                    time.sleep(float(response.headers.get("Retry-After", "1")))
                if response.status_code != 200:
                    errors.append(response.text[:200])
                    return
                with lock:
                    answered.append(time.perf_counter() - started)
                    latencies.append(time.perf_counter() - sent_at)
                    if halfway is not None and len(answered) == len(batches) // 2:
                        halfway.set()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"ingest failed: {errors[0]}")
    if until_s and not queue:
        raise SystemExit(
            f"ran out of batches before {until_s:g} s: the rate beat --seconds' sizing"
        )
    return Sent(elapsed, refused[0], answered, latencies)


def measure(
    name: str,
    database_url: str,
    batches: list[bytes],
    clients: int,
    workload: str,
    until_s: float | None = None,
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as workdir:
        process, url = start_server(Path(workdir), {"PREMORTEM_DATABASE_URL": database_url})
        try:
            send_all(url, batches[:5], clients)  # warm-up: imports, first templates
            watch = LagWatch(url)
            watch.caught_up()
            watch.start()
            started = time.perf_counter()
            sent = send_all(url, batches[5:], clients, until_s=until_s)
            watch.stop.set()
            watch.join()
            watch.caught_up()
            analysed = time.perf_counter() - started
            stored = httpx.get(f"{url}/api/v1/logs", params={"limit": 1}, timeout=60).json()[
                "total"
            ]
        finally:
            process.terminate()
            process.wait(timeout=30)
    lines = len(sent.answered_at) * BATCH
    return {
        "backend": name,
        "workload": workload,
        "lines": lines,
        "stored": stored,
        "seconds": round(sent.seconds, 3),
        "lines_per_s": round(lines / sent.seconds),
        "slowest_10s_lines_per_s": sent.slowest_slice(),
        "analysis_lines_per_s": round(lines / analysed),
        "max_analysis_lag_s": round(watch.max_lag_s, 2),
        "refused_429": sent.refused,
    }


def postgres_schema_url(base: str) -> tuple[str, str]:
    schema = f"pm_bench_{uuid.uuid4().hex[:8]}"
    with create_engine(base).begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    return f"{base}?options=-csearch_path%3D{schema}", schema


def drop_schema(base: str, schema: str) -> None:
    with create_engine(base).begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument(
        "--seconds",
        type=float,
        help="send for this many seconds (the issue's sustained 60 s: --seconds 60), from "
        "batches prepared for twice the target rate; overrides --lines",
    )
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="PostgreSQL URL, or 'none' to skip",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    console = Console(width=180)
    if args.seconds:
        args.lines = int(args.seconds * 2 * TARGET) // BATCH * BATCH
    results = []
    for workload in WORKLOADS if args.workload == "all" else (args.workload,):
        batches = make_batches(args.lines + 5 * BATCH, workload)
        with tempfile.TemporaryDirectory() as data:
            console.print(f"{workload}: SQLite …")
            url = f"sqlite:///{data}/bench.db"
            results.append(measure("sqlite", url, batches, args.clients, workload, args.seconds))
        if args.postgres != "none":
            console.print(f"{workload}: PostgreSQL …")
            url, schema = postgres_schema_url(args.postgres)
            try:
                results.append(
                    measure("postgresql", url, batches, args.clients, workload, args.seconds)
                )
            finally:
                drop_schema(args.postgres, schema)

    table = Table(title=f"Ingest throughput, batches of {BATCH} JSON lines over HTTP")
    columns: tuple[str, ...] = ("workload", "backend", "lines", "stored", "seconds", "lines/s")
    columns = (*columns, "slowest 10 s", "target")
    for column in (*columns, f"analysis lines/s (≥ {TARGET_ANALYSIS:,})", "max lag (s)", "429s"):
        table.add_column(column, justify="right")
    for r in results:
        target = TARGET if r["backend"] == "sqlite" else TARGET_POSTGRES
        ingest_ok = int(r["lines_per_s"]) >= target  # type: ignore[call-overload]
        analysis_ok = int(r["analysis_lines_per_s"]) >= TARGET_ANALYSIS  # type: ignore[call-overload]
        table.add_row(
            str(r["workload"]),
            str(r["backend"]),
            f"{r['lines']:,}",
            f"{r['stored']:,}",
            str(r["seconds"]),
            f"{r['lines_per_s']:,}",
            "-" if r["slowest_10s_lines_per_s"] is None else f"{r['slowest_10s_lines_per_s']:,}",
            f"≥ {target:,} {'met' if ingest_ok else 'MISSED'}",
            f"{r['analysis_lines_per_s']:,} ({'met' if analysis_ok else 'MISSED'})",
            str(r["max_analysis_lag_s"]),
            str(r["refused_429"]),
        )
    console.print(table)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "target_lines_per_s": TARGET,
                    "target_postgres_lines_per_s": TARGET_POSTGRES,
                    "target_analysis_lines_per_s": TARGET_ANALYSIS,
                    "results": results,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
