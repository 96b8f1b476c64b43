"""Ingest throughput: JSON log batches of 1,000 over HTTP → mined → stored.

Starts `premortem serve` as its own process (SQLite in a fresh directory, then PostgreSQL in a
fresh schema), sends pre-encoded batches from a few client threads, and reports lines per second
from the first request to the last answer, after checking that every line was stored.
Target: ≥ 50,000 lines/s on SQLite on a 2-core machine.

    python bench/ingest.py [--lines 200000] [--clients 2] [--postgres URL|none] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

from _server import start_server  # bench/_server.py

TARGET = 50_000
BATCH = 1000
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


def make_batches(lines: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    base = 1_714_564_800_000_000_000
    batches = []
    for b in range(lines // BATCH):
        records = []
        for i in range(BATCH):
            n = b * BATCH + i
            message = rng.choice(MESSAGES).format(
                n=rng.randint(1, 10**6),
                ms=rng.randint(1, 3000),
                a=rng.randint(0, 255),
                b=rng.randint(0, 255),
            )
            level = "ERROR" if message.startswith("ERROR") else "INFO"
            records.append(
                {
                    "timestamp": base + n * 1_000_000,
                    "service": rng.choice(SERVICES),
                    "severity_text": level,
                    "body": message,
                    "attributes": {"host": f"node-{n % 8}"},
                }
            )
        batches.append(json.dumps(records).encode())
    return batches


def send_all(url: str, batches: list[bytes], clients: int) -> float:
    queue = list(reversed(batches))
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                response = client.post(
                    "/api/v1/logs", content=body, headers={"content-type": "application/json"}
                )
                if response.status_code != 200:
                    errors.append(response.text[:200])
                    return

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"ingest failed: {errors[0]}")
    return elapsed


def measure(name: str, database_url: str, batches: list[bytes], clients: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as workdir:
        process, url = start_server(Path(workdir), {"PREMORTEM_DATABASE_URL": database_url})
        try:
            send_all(url, batches[:5], clients)  # warm-up: imports, first templates
            elapsed = send_all(url, batches[5:], clients)
            stored = httpx.get(f"{url}/api/v1/logs", params={"limit": 1}, timeout=60).json()[
                "total"
            ]
        finally:
            process.terminate()
            process.wait(timeout=30)
    lines = (len(batches) - 5) * BATCH
    return {
        "backend": name,
        "lines": lines,
        "stored": stored,
        "seconds": round(elapsed, 3),
        "lines_per_s": round(lines / elapsed),
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
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="PostgreSQL URL, or 'none' to skip",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    console = Console()
    batches = make_batches(args.lines + 5 * BATCH)
    results = []
    with tempfile.TemporaryDirectory() as data:
        console.print("SQLite …")
        results.append(measure("sqlite", f"sqlite:///{data}/bench.db", batches, args.clients))
    if args.postgres != "none":
        console.print("PostgreSQL …")
        url, schema = postgres_schema_url(args.postgres)
        try:
            results.append(measure("postgresql", url, batches, args.clients))
        finally:
            drop_schema(args.postgres, schema)

    table = Table(title=f"Ingest throughput, batches of {BATCH} JSON lines over HTTP")
    for column in ("backend", "lines", "stored", "seconds", "lines/s", f"target ≥ {TARGET:,}"):
        table.add_column(column, justify="right")
    for r in results:
        ok = (
            "n/a"
            if r["backend"] != "sqlite"
            else ("met" if r["lines_per_s"] >= TARGET else "MISSED")
        )  # type: ignore[operator]
        table.add_row(
            str(r["backend"]),
            f"{r['lines']:,}",
            f"{r['stored']:,}",
            str(r["seconds"]),
            f"{r['lines_per_s']:,}",
            ok,
        )
    console.print(table)
    if args.json:
        args.json.write_text(
            json.dumps({"target_lines_per_s": TARGET, "results": results}, indent=2)
        )


if __name__ == "__main__":
    main()
