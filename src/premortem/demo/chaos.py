"""Running the shipped Chaos Toolkit experiments with the real `chaos` CLI, as subprocesses.

Each run notifies premortem live (settings file `notifications:` → `/api/v1/chaostoolkit/events`)
and writes a journal (`--journal-path`), which the demo then also posts to
`/api/v1/test-runs?format=chaostoolkit` (storing a run twice is idempotent).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from premortem.demo.servers import DemoError

FULL = (
    "cpu-hog",
    "connection-leak",
    "kill-worker",
    "db-latency",
    "load-spike",
    "connection-leak-slow",
)
QUICK = ("connection-leak-fast", "db-latency", "connection-leak")
RUN_TIMEOUT_S = 90.0
NOTIFIED_EVENTS = ("run-started", "run-completed", "run-failed", "run-deviated")


@dataclass(slots=True)
class ChaosRun:
    name: str
    title: str
    journal: dict[str, Any]
    exit_code: int

    @property
    def deviated(self) -> bool:
        return bool(self.journal.get("deviated"))

    @property
    def outcome(self) -> str:
        if self.deviated:
            return "deviated"
        return str(self.journal.get("status") or "unknown")


def experiment_path(name: str) -> Path:
    resource = resources.files("premortem.demo") / "experiments" / f"{name}.json"
    return Path(str(resource))


def experiment_title(name: str) -> str:
    return str(json.loads(experiment_path(name).read_text())["title"])


def chaos_executable() -> str:
    found = Path(sys.executable).with_name("chaos")
    if found.exists():
        return str(found)
    which = shutil.which("chaos")
    if which is None:
        raise DemoError(
            "the `chaos` command (Chaos Toolkit) is not installed: pip install 'premortem[demo]'"
        )
    return which


def write_settings(workdir: Path, premortem_url: str) -> Path:
    path = workdir / "chaostoolkit-settings.yaml"
    events = ", ".join(NOTIFIED_EVENTS)
    path.write_text(
        "# Chaos Toolkit settings: tell premortem about every run as it happens.\n"
        "notifications:\n"
        "  - type: http\n"
        f"    url: {premortem_url}/api/v1/chaostoolkit/events\n"
        f"    events: [{events}]\n"
        "runtime:\n"
        "  rollbacks:\n"
        "    strategy: always\n"
    )
    return path


def run_experiment(
    name: str, *, workdir: Path, settings: Path, base_url: str, timeout_s: float = RUN_TIMEOUT_S
) -> ChaosRun:
    """`chaos run` one shipped experiment against the demo service; the journal is returned."""
    journal_path = workdir / f"journal-{name}.json"
    command = [
        chaos_executable(), "--no-version-check", "--settings", str(settings),
        "--log-file", str(workdir / f"chaostoolkit-{name}.log"),
        "run", str(experiment_path(name)), "--journal-path", str(journal_path),
        "--var", f"base_url={base_url}",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # our signal handlers end the whole group
    )
    RUNNING.add(process)
    try:
        code = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        terminate(process)
        raise DemoError(f"chaos run {name} did not finish within {timeout_s:.0f} s") from None
    finally:
        RUNNING.discard(process)
    if not journal_path.exists():
        raise DemoError(f"chaos run {name} exited with {code} and wrote no journal")
    journal = json.loads(journal_path.read_text())
    return ChaosRun(name, str(journal["experiment"]["title"]), journal, code)


RUNNING: set[subprocess.Popen[bytes]] = set()


def terminate(process: subprocess.Popen[bytes], grace_s: float = 3.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it is still there."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace_s)
    except (ProcessLookupError, PermissionError):
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(grace_s)
