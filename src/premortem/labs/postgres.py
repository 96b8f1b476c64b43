"""A private PostgreSQL server for the bookings lab: `initdb` in the lab's directory, the real
`postgres` on a free port of 127.0.0.1, and its stderr log shipped line by line as a shipper
tailing PostgreSQL's log file sends it: one record per line, the line's own timestamp, no level
(premortem reads `LOG:`/`ERROR:` from the line and folds `DETAIL:`/`STATEMENT:` lines into their
message, docs/ingest.md).

Settings are the ones an operator sets to see lock trouble (`log_lock_waits`, `deadlock_timeout`
200 ms, statements slower than 250 ms logged), with durability off since nothing here is kept.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from premortem.labs.shipping import NativeLogShipper

SERVICE = "bookings-db"
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "max_connections": "40",
    "shared_buffers": "32MB",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "log_line_prefix": "%m [%p] ",
    "log_timezone": "UTC",
    "log_lock_waits": "on",
    "deadlock_timeout": "200ms",
    "log_min_duration_statement": "250ms",
    "log_checkpoints": "on",
}
# "2026-12-05 22:40:01.123 UTC [812] LOG:  ..." -> the timestamp, as RFC 3339
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) UTC ")


class PostgresError(RuntimeError):
    """The lab's PostgreSQL could not be set up; the message says why."""


class PostgresServer:
    def __init__(self, port: int, shipper: NativeLogShipper) -> None:
        # Its own directory under the system's temporary one: as root, the server runs as
        # `postgres`, which may not enter the lab's (a test's tmp_path is private to root).
        self.home = Path(tempfile.mkdtemp(prefix="premortem-lab-pg-"))
        self.data = self.home / "data"
        self.port = port
        self.shipper = shipper
        self.dsn = f"host=127.0.0.1 port={port} user=lab dbname=postgres"
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> PostgresServer:
        initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
        if initdb is None or postgres is None:
            raise PostgresError("initdb and postgres must be on PATH (Debian: postgresql)")
        as_user = _as_unprivileged(self.home)
        subprocess.run(
            [initdb, "-D", str(self.data), "-A", "trust", "-U", "lab", "--no-sync"],
            check=True,
            capture_output=True,
            **as_user,
        )
        settings = [arg for key, value in SETTINGS.items() for arg in ("-c", f"{key}={value}")]
        self._process = subprocess.Popen(
            [postgres, "-D", str(self.data), "-p", str(self.port), *settings],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
            preexec_fn=_die_with_parent,
            **as_user,
        )
        self._reader = threading.Thread(target=self._ship, name="pg-log", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 20
        while True:
            try:
                psycopg.connect(self.dsn, connect_timeout=1).close()
                return self
            except psycopg.OperationalError as exc:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise PostgresError(f"PostgreSQL did not start: {exc}") from exc
                time.sleep(0.1)

    def _ship(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        last = ""
        for line in self._process.stderr:
            line = line.rstrip("\n")
            stamp = STAMP.match(line)
            if stamp:
                last = f"{stamp[1]}T{stamp[2]}Z"
            if last and line:
                self.shipper.raw(line, last)

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGINT)  # a fast shutdown: open sessions are cut
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        shutil.rmtree(self.home, ignore_errors=True)


_PR_SET_PDEATHSIG = 1
# Looked up before any fork: the child only calls it (preexec_fn runs between fork and exec).
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """A lab killed without closing (a test's timeout) leaves no PostgreSQL running: the kernel
    sends it SIGINT (a fast shutdown) when the lab's process is gone. Linux only."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGINT)


def _as_unprivileged(directory: Path) -> dict[str, Any]:
    """PostgreSQL refuses to run as root: run it as `postgres` then (owning `directory`)."""
    if os.geteuid() != 0:
        return {}
    try:
        shutil.chown(directory, "postgres", "postgres")
    except LookupError as exc:
        raise PostgresError("running as root needs a postgres user to run PostgreSQL") from exc
    return {"user": "postgres", "group": "postgres", "extra_groups": []}
