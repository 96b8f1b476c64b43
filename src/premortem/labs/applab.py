"""A lab whose system is one app process (`python -m premortem.labs.<app>`) on a free port of
127.0.0.1, under load and probed: what the bookings and orders labs share. A subclass starts
the app with `spawn`, then its load and probe, and adds what runs beside the app (the bookings
lab's PostgreSQL) to `start`, `check` and `close`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from premortem.demo.servers import free_port
from premortem.labs.runner import LabError, System, admin_call
from premortem.labs.traffic import Probe, Traffic, call


class OneAppLab:
    system: System
    app: str  # the module under premortem.labs, and the app's key in `urls`
    label: str  # how errors name it ("bookings-api")

    def __init__(self, workdir: Path, *, premortem_url: str = "", seed: int = 0) -> None:
        self.workdir = workdir
        self.premortem_url = premortem_url
        self.seed = seed
        self.urls: dict[str, str] = {}
        self._app: subprocess.Popen[bytes] | None = None
        self.load: Traffic | None = None
        self.probe: Probe | None = None

    def spawn(self, extra: list[str]) -> str:
        """Start the app, shipping its logs to premortem (if given) and to `<app>.jsonl`;
        return its URL once it answers /health."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        url = self.urls[self.app] = f"http://127.0.0.1:{port}"
        stderr = (self.workdir / f"{self.app}.stderr").open("ab")
        self._app = subprocess.Popen(
            [
                sys.executable, "-m", f"premortem.labs.{self.app}", "--port", str(port),
                "--premortem", self.premortem_url,
                "--log-file", str(self.workdir / f"{self.app}.jsonl"),
                "--parent-pid", str(os.getpid()), *extra,
            ],
            stdout=stderr, stderr=stderr, start_new_session=True, cwd=self.workdir,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while call(url + "/health", None, timeout_s=1).status != 200:
            self.check()
            if time.monotonic() > deadline:
                raise LabError(f"{self.label} did not answer on {url}")
            time.sleep(0.1)
        return url

    def check(self) -> None:
        if self._app is not None and self._app.poll() is not None:
            raise LabError(
                f"{self.label} exited with code {self._app.returncode} "
                f"(see {self.workdir / (self.app + '.stderr')})"
            )

    def admin(self, process: str, path: str, body: dict[str, Any]) -> None:
        admin_call(self.urls[process], process, path, body)

    def rollback(self) -> None:
        self.admin(self.app, "/admin/faults/clear", {})

    def close(self) -> None:
        for part in (self.probe, self.load):
            if part is not None:
                part.stop()
        self.probe = self.load = None
        if self._app is not None and self._app.poll() is None:
            self._app.terminate()
            try:
                self._app.wait(10)
            except subprocess.TimeoutExpired:
                self._app.kill()
                self._app.wait(5)

    def start(self) -> Self:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
