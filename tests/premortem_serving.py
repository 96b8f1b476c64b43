"""`premortem serve` in its own process, for tests that talk to it as a user would (the fixture
`premortem_process` in conftest.py makes them and stops them)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Child:
    """A premortem process of a test: killed with SIGKILL, or stopped as an operator would."""

    process: subprocess.Popen[bytes] | None

    def kill_9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


class PremortemProcess(_Child):
    """`premortem serve` as a user runs it: its own process, open mode, one port and database for
    its life (start it again after `kill_9` and it comes back on both). Log in `server.log`."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        for name in ("PREMORTEM_TOKENS", "PREMORTEM_ALLOWED_HOSTS"):
            if name not in env:
                self.env.pop(name, None)
        self.process: subprocess.Popen[bytes] | None = None
        self.args: list[str] = []  # more `premortem serve` options, e.g. ["--syslog-tcp", "5514"]

    @property
    def log(self) -> str:
        path = self.workdir / "server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def start(self, timeout_s: float = 60) -> None:
        with (self.workdir / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("premortem")),
                    "serve",
                    "--port",
                    str(self.port),
                    *self.args,
                ],
                env=self.env,
                stdout=log,
                stderr=log,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.process.poll() is None, self.log
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"premortem did not start in {timeout_s:.0f} s"
            time.sleep(0.1)


class WorkerProcess(_Child):
    """`premortem worker` in its own process (scale-out tests). Log in `worker-<n>.log`."""

    def __init__(self, workdir: Path, env: dict[str, str], number: int) -> None:
        self.workdir = workdir
        self.env = {**os.environ, **env}
        self.logfile = workdir / f"worker-{number}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> str:
        return self.logfile.read_text(errors="replace")[-3000:] if self.logfile.exists() else ""

    def start(self) -> None:
        with self.logfile.open("ab") as log:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).with_name("premortem")), "worker"],
                env=self.env,
                stdout=log,
                stderr=log,
                cwd=self.workdir,
            )

    def wait_ready(self, timeout_s: float = 60) -> None:
        """Until it said which partitions it took (it has joined the others)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while "premortem worker: partitions" not in self.log:
            assert self.process.poll() is None, self.log
            assert time.monotonic() < deadline, f"the worker did not start: {self.log}"
            time.sleep(0.1)
