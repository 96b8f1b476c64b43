"""Scale-out, end to end: HTTP in → templates stored → predictions made, per deployment.

Each setup first learns a model from the bundled seed example (sent through the API, then
`POST /api/v1/train`), so the predictor works on every line. Then the same batches of 1,000
JSON log lines (bench/ingest.py's few-templates workload) go in from two client threads:

- `embedded`: `premortem serve` alone on SQLite (the default);
- `jetstream-1`, `jetstream-2`: `premortem serve` with `PREMORTEM_BUS_URL` (NATS JetStream on
  127.0.0.1:4222) and one or two `premortem worker` processes, on PostgreSQL;
- `jetstream-2` with `killed_worker: true`: the same, one worker SIGKILLed when half the batches
  were answered, and started again.

`lines_s` is the records over the time from the first request until analysis caught up (the
server's /metrics lag back to 0: every record mined, stored and seen by the predictor);
`p99_ingest_s` the 99th percentile of the requests' answer times; `max_analysis_lag_s` the
largest lag /metrics showed (read every 0.2 s). `records_stored` (the seed example's lines not
included) and `duplicates` (rows beyond one per id) are counted in the database. `cpu_s` gives
each process's CPU seconds over the run (from /proc), and how much of the workers' went to
prediction (one worker's role): where the time went, so where the bottleneck is.

    python bench/scaleout.py [--lines 200000] [--postgres URL] [--nats URL] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

from _server import start_server, train_seed_model  # bench/_server.py
from ingest import BATCH, LagWatch, drop_schema, make_batches, postgres_schema_url, send_all

CLIENTS = 2
PARTITIONS = 4
TICKS = os.sysconf("SC_CLK_TCK")


class Worker:
    def __init__(self, workdir: Path, env: dict[str, str], number: int) -> None:
        self.workdir, self.env, self.number = workdir, env, number
        self.process: subprocess.Popen[bytes] | None = None
        self.cpu_s = 0.0  # of earlier lives (a killed worker's CPU counts too)

    def start(self) -> None:
        with (self.workdir / f"worker-{self.number}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "premortem.cli", "worker"],
                cwd=self.workdir,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self) -> None:
        log = self.workdir / f"worker-{self.number}.log"
        deadline = time.monotonic() + 60
        while "premortem worker: partitions" not in log.read_text(errors="replace"):
            if time.monotonic() > deadline or (self.process and self.process.poll() is not None):
                raise SystemExit(f"worker {self.number} did not start; see {log}")
            time.sleep(0.1)

    def kill_9(self) -> None:
        assert self.process is not None
        self.cpu_s += cpu_seconds(self.process.pid)
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> float:
        """Stops it; its CPU seconds over every life."""
        if self.process is None:
            return self.cpu_s
        used = self.cpu_s + cpu_seconds(self.process.pid)
        self.process.terminate()
        self.process.wait(30)
        return used

    def prediction_cpu_s(self) -> float:
        """CPU seconds its last life spent predicting (it says so when it stops)."""
        text = (self.workdir / f"worker-{self.number}.log").read_text(errors="replace")
        found = re.findall(r"prediction ([0-9.]+) s", text)
        return float(found[-1]) if found else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def cpu_of(name: str) -> float:
    return sum(cpu_seconds(pid) for pid in pids_named(name))


def stored(database_url: str) -> tuple[int, int]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            total, distinct = conn.execute(
                text("SELECT count(*), count(DISTINCT id) FROM logs")
            ).one()
    finally:
        engine.dispose()
    return int(total), int(distinct)


def run(
    setup: str,
    database_url: str,
    batches: list[bytes],
    *,
    workers: int = 0,
    nats: str = "",
    kill: bool = False,
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = {"PREMORTEM_DATABASE_URL": database_url}
        if workers:
            env |= {
                "PREMORTEM_BUS_URL": nats,
                "PREMORTEM_BUS_NAME": f"bench{uuid.uuid4().hex[:8]}",
                "PREMORTEM_BUS_PARTITIONS": str(PARTITIONS),
                "PREMORTEM_BUS_ACK_WAIT_S": "5",
            }
        server, url = start_server(workdir, env)
        running = [Worker(workdir, env, n) for n in range(workers)]
        for worker in running:
            worker.start()
        for worker in running:
            worker.wait_ready()
        train_seed_model(url)
        seeded, _ = stored(database_url)
        outside = {name: cpu_of(name) for name in ("postgres", "nats-server")}
        server_cpu = cpu_seconds(server.pid)
        half = threading.Event()
        killer = None
        if kill:

            def kill_at_half() -> None:
                half.wait()
                running[0].kill_9()
                running[0].start()

            killer = threading.Thread(target=kill_at_half, daemon=True)
            killer.start()
        watch = LagWatch(url)
        watch.start()
        started = time.perf_counter()
        cpu: dict[str, float] = {}
        try:
            latencies = send_all(url, batches, CLIENTS, halfway=half).latencies
            watch.stop.set()
            watch.join()
            watch.caught_up()
            elapsed = time.perf_counter() - started
            if killer is not None:
                killer.join(60)
            cpu["server"] = round(cpu_seconds(server.pid) - server_cpu, 1)
            cpu.update({name: round(cpu_of(name) - b, 1) for name, b in outside.items()})
            total, distinct = stored(database_url)
        finally:
            for n, worker in enumerate(running):
                cpu[f"worker-{n}"] = round(worker.stop(), 1)
            if running:
                cpu["of which prediction"] = round(sum(w.prediction_cpu_s() for w in running), 1)
            server.terminate()
            server.wait(30)
    records = len(batches) * BATCH
    return {
        "setup": setup,
        "lines_s": round(records / elapsed),
        "records_in": records,
        "records_stored": total - seeded,
        "duplicates": total - distinct,
        "p99_ingest_s": round(statistics.quantiles(latencies, n=100)[98], 3),
        "max_analysis_lag_s": round(watch.max_lag_s, 2),
        "killed_worker": kill,
        "seconds": round(elapsed, 1),
        "cpu_s": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    console = Console(width=160)
    batches = make_batches(args.lines)
    runs = []
    with tempfile.TemporaryDirectory() as data:
        console.print("embedded (SQLite) …")
        runs.append(run("embedded", f"sqlite:///{data}/bench.db", batches))
    for setup, workers, kill in (
        ("jetstream-1", 1, False),
        ("jetstream-2", 2, False),
        ("jetstream-2", 2, True),
    ):
        console.print(f"{setup}{' (one worker killed)' if kill else ''} …")
        url, schema = postgres_schema_url(args.postgres)
        try:
            runs.append(run(setup, url, batches, workers=workers, nats=args.nats, kill=kill))
        finally:
            drop_schema(args.postgres, schema)

    table = Table(title=f"Scale-out, {args.lines:,} lines in batches of {BATCH} over HTTP")
    for column in ("setup", "killed", "lines/s", "stored", "dupl.", "p99 ingest s", "max lag s"):
        table.add_column(column, justify="right")
    table.add_column("CPU seconds per process", justify="left")
    for r in runs:
        cpu = r["cpu_s"]
        assert isinstance(cpu, dict)
        table.add_row(
            str(r["setup"]),
            "yes" if r["killed_worker"] else "",
            f"{r['lines_s']:,}",
            f"{r['records_stored']:,}",
            str(r["duplicates"]),
            str(r["p99_ingest_s"]),
            str(r["max_analysis_lag_s"]),
            ", ".join(f"{k} {v}" for k, v in cpu.items()),
        )
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps({"runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
