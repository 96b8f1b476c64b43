"""A real Prometheus (Debian `prometheus`) of a test's own, and waiting for a condition.

`running_prometheus(config, workdir)` starts it on a free 127.0.0.1 port with its storage in
`workdir`, waits until it is ready and yields its URL; a missing binary fails the test (CI
installs it, .ci/run), never skips it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from premortem.demo.servers import free_port

PROMETHEUS = "/usr/bin/prometheus"


def wait_for(check: Callable[[], Any], *, timeout_s: float, what: str, every_s: float = 0.2) -> Any:
    """`check()`'s first truthy result, polled every `every_s`; AssertionError after the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@contextmanager
def running_prometheus(config: str, workdir: Path, *, port: int | None = None) -> Iterator[str]:
    if not Path(PROMETHEUS).exists():
        pytest.fail(f"{PROMETHEUS} is required: apt-get install -y prometheus")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prometheus.yml").write_text(config)
    port = port or free_port()
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url, process), timeout_s=30, what="Prometheus to be ready")
        yield url
    finally:
        process.terminate()
        process.wait(15)
        shutil.rmtree(workdir / "data", ignore_errors=True)


def _ready(url: str, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "Prometheus exited (see its log in the test's tmp_path)"
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
