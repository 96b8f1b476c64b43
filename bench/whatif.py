"""What-If answer time: a 10-point grid of request_rate (50..500 req/s) on a service whose pool is
too small (5 connections), repeated 20 times (seeds 0..19), answered by `POST /api/v1/what-if`
in-process (FastAPI TestClient, SQLite in a temporary directory: request parsing, Bayes-net
estimator, JSON answer included) with the API's default of 30 simulated seconds per point.

    python bench/whatif.py [--repetitions 20] [--duration 30] [--processes 0] [--json OUT]

Target (issue 7): p95 < 2 s per answer on this machine; `p50_s`/`p95_s` are the API's. The library
call `what_if` is timed as well (`library`), and `--processes N` also times the grid on a warm
process pool of N workers (the caller-owned executor `what_if` accepts).

Anchors, measured in the same run: one default `service` run of 300 simulated seconds at
200 req/s (the per-run budget: well under 0.2 s CPU), and bare SimPy — a chain of callback
`Timeout`s, as many as that run's requests need (two each) — the floor of the event loop.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import simpy
from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table

from premortem.config import Settings
from premortem.service.app import create_app
from premortem.service.routes_whatif import DEFAULT_DURATION_S
from premortem.sim import run_model, what_if

GRID = list(range(50, 501, 50))
BASE = {"pool_size": 5}
TARGET_P95_S = 2.0


def time_answers(
    repetitions: int, duration_s: float, executor: Any = None
) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds (this process) of each answer."""
    wall, cpu = [], []
    for seed in range(repetitions):
        start, cpu_start = time.perf_counter(), time.process_time()
        answer = what_if(
            BASE, "request_rate", GRID, seed=seed, duration_s=duration_s, executor=executor
        )
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
        assert answer.appearances and len(answer.points) == len(GRID)
    return wall, cpu


def time_api_answers(repetitions: int, duration_s: float) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of each `POST /api/v1/what-if` answer, served in-process."""
    wall, cpu = [], []
    with tempfile.TemporaryDirectory() as tmp:
        # TestClient sends Host: testserver, which the server answers only when told to.
        settings = Settings(database_url=f"sqlite:///{tmp}/bench.db", allowed_hosts=["testserver"])
        app = create_app(settings)
        with TestClient(app) as client:
            for seed in range(repetitions):
                body = {"params": BASE, "change": "request_rate", "values": GRID, "seed": seed}
                if duration_s != DEFAULT_DURATION_S:
                    body["duration_s"] = duration_s
                start, cpu_start = time.perf_counter(), time.process_time()
                response = client.post("/api/v1/what-if", json=body)
                wall.append(time.perf_counter() - start)
                cpu.append(time.process_time() - cpu_start)
                answer = response.json()
                assert response.status_code == 200 and len(answer["points"]) == len(GRID), answer
    return wall, cpu


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def anchors() -> dict[str, float]:
    cpu_start = time.process_time()
    run = run_model("service", {"request_rate": 200}, seed=0, duration_s=300)
    run_cpu = time.process_time() - cpu_start
    arrivals = run.series_named("arrival_rate")
    events = 2 * int(sum(v or 0 for v in arrivals.values)) if arrivals else 0
    env = simpy.Environment()
    left = [events]

    def tick(_event: simpy.Event) -> None:
        left[0] -= 1
        if left[0] > 0:
            simpy.events.Timeout(env, 0.001).callbacks.append(tick)

    simpy.events.Timeout(env, 0.001).callbacks.append(tick)
    cpu_start = time.process_time()
    env.run()
    return {"run_300s_200rps_cpu_s": run_cpu, "bare_simpy_cpu_s": time.process_time() - cpu_start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S)
    parser.add_argument("--processes", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    api, api_cpu = time_api_answers(args.repetitions, args.duration)
    serial, serial_cpu = time_answers(args.repetitions, args.duration)
    results: dict[str, Any] = {
        "grid_points": len(GRID),
        "grid": {"change": "request_rate", "values": GRID, "base": BASE},
        "path": "POST /api/v1/what-if (in-process)",
        "duration_s": args.duration,
        "repetitions": args.repetitions,
        "p50_s": statistics.median(api),
        "p95_s": quantile(api, 0.95),
        "max_s": max(api),
        "cpu_p50_s": statistics.median(api_cpu),
        "cpu_p95_s": quantile(api_cpu, 0.95),
        "library": {
            "p50_s": statistics.median(serial),
            "p95_s": quantile(serial, 0.95),
            "cpu_p50_s": statistics.median(serial_cpu),
            "cpu_p95_s": quantile(serial_cpu, 0.95),
        },
        "load_average_1m": os.getloadavg()[0],
        "target_p95_s": TARGET_P95_S,
        "anchors": anchors(),
    }
    if args.processes:
        with ProcessPoolExecutor(max_workers=args.processes) as pool:
            time_answers(1, args.duration, pool)  # warm the workers up
            pooled, _ = time_answers(args.repetitions, args.duration, pool)
        results["process_pool"] = {
            "processes": args.processes,
            "p50_s": statistics.median(pooled),
            "p95_s": quantile(pooled, 0.95),
        }
    report(results)
    if args.json:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


def report(results: dict[str, Any]) -> None:
    table = Table(title="What-If answer time (10-point grid; machine shared, numbers are noisy)")
    for column in ("measure", "p50", "p95", "note"):
        table.add_column(column)
    verdict = "meets" if results["p95_s"] < TARGET_P95_S else "MISSES"
    table.add_row(
        "POST /api/v1/what-if", f"{results['p50_s']:.3f} s", f"{results['p95_s']:.3f} s",
        f"{verdict} p95 < {TARGET_P95_S} s; {results['duration_s']:g} simulated s per point",
    )  # fmt: skip
    table.add_row(
        "POST /api/v1/what-if, CPU", f"{results['cpu_p50_s']:.3f} s",
        f"{results['cpu_p95_s']:.3f} s", "this process (server and client threads)",
    )  # fmt: skip
    library = results["library"]
    table.add_row(
        "what_if, serial", f"{library['p50_s']:.3f} s", f"{library['p95_s']:.3f} s",
        "the library call alone",
    )  # fmt: skip
    if "process_pool" in results:
        pooled = results["process_pool"]
        table.add_row(
            f"what_if, {pooled['processes']} processes",
            f"{pooled['p50_s']:.3f} s", f"{pooled['p95_s']:.3f} s", "warm ProcessPoolExecutor",
        )  # fmt: skip
    table.add_row(
        "what_if, serial, CPU", f"{library['cpu_p50_s']:.3f} s", f"{library['cpu_p95_s']:.3f} s",
        f"this process only; 1-min load average {results['load_average_1m']:.1f} on 2 cores",
    )  # fmt: skip
    anchor = results["anchors"]
    table.add_row(
        "anchor: one run", f"{anchor['run_300s_200rps_cpu_s']:.3f} s CPU", "",
        "service, 300 simulated s at 200 req/s",
    )  # fmt: skip
    table.add_row(
        "anchor: bare SimPy", f"{anchor['bare_simpy_cpu_s']:.3f} s CPU", "",
        "same event count as that run, no model",
    )  # fmt: skip
    Console().print(table)


if __name__ == "__main__":
    main()
