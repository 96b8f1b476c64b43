"""Shared by the benchmarks: start `premortem serve` in its own process, wait until it is ready."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(workdir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """`premortem serve` in `workdir` with `env` added (port chosen here); its log goes to
    `workdir/server.log`. Returns the process and its base URL once `/readyz` answers."""
    port = free_port()
    with (workdir / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "premortem.cli", "serve"],
            cwd=workdir,
            env={**os.environ, **env, "PREMORTEM_PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the server did not become ready; see {workdir / 'server.log'}")


def caught_up(url: str, timeout_s: float = 600) -> None:
    """Wait until /metrics says nothing waits for analysis."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = httpx.get(f"{url}/metrics", timeout=30).text.splitlines()
        if any(line.split()[:2] == ["premortem_analysis_lag_records", "0.0"] for line in lines):
            return
        time.sleep(0.1)
    raise SystemExit(f"analysis did not catch up in {timeout_s:.0f} s")


def train_seed_model(url: str) -> None:
    """A model to predict with: the bundled seed example (a failed test run and its logs),
    sent as a user would and trained on; the predictor then reads every benchmark line (its
    WARN and ERROR lines are new to the model, so they are evidence it evaluates)."""
    from premortem.examples import seed_example_bytes, seed_logs_bytes

    json_type = {"content-type": "application/json"}
    with httpx.Client(base_url=url, timeout=300) as client:
        client.post("/api/v1/test-runs", content=seed_example_bytes(), headers=json_type)
        client.post("/api/v1/logs", content=seed_logs_bytes(), headers=json_type)
        caught_up(url)
        trained = client.post("/api/v1/train").json()
    if not trained.get("modes"):
        raise SystemExit(f"the seed example trained no failure mode: {trained}")
    time.sleep(6.0)  # workers look for a newer model every 5 s
