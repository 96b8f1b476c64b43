"""The real `chaos` CLI notifies premortem over HTTP; runs arrive as events and test runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from premortem.config import Settings
from premortem.demo.servers import PremortemServer, free_port
from premortem.ingest import chaostoolkit

pytestmark = pytest.mark.integration

CHAOS = shutil.which("chaos") or str(Path(sys.executable).with_name("chaos"))


class Target:
    """A tiny service: /health answers 200 until POST /break, then 503 until POST /fix."""

    def __init__(self) -> None:
        self.broken = False
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(503 if target.broken else 200)

            def do_POST(self) -> None:
                target.broken = self.path == "/break"
                self._answer(200)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def premortem(tmp_path: Path) -> Iterator[str]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'pm.db'}", port=free_port())
    with PremortemServer(settings) as server:
        yield server.url


@pytest.fixture
def target() -> Iterator[Target]:
    t = Target()
    yield t
    t.server.shutdown()
    t.server.server_close()


def _experiment(target: Target, *, breaks: bool) -> dict[str, Any]:
    health = {
        "type": "probe",
        "name": "health-returns-200",
        "tolerance": 200,
        "provider": {"type": "http", "url": f"{target.url}/health", "timeout": 3},
    }
    return {
        "version": "1.0.0",
        "title": "Checkout survives a broken dependency" if breaks else "Checkout is fine",
        "description": "integration test",
        "tags": ["service:checkout", "env=test"],
        "steady-state-hypothesis": {"title": "healthy", "probes": [health]},
        "method": [
            {
                "type": "action",
                "name": "break-dependency" if breaks else "poke",
                "provider": {
                    "type": "http",
                    "url": f"{target.url}/{'break' if breaks else 'poke'}",
                    "method": "POST",
                    "timeout": 3,
                },
                "pauses": {"after": 0.2},
            }
        ],
        "rollbacks": [
            {
                "type": "action",
                "name": "fix-dependency",
                "provider": {"type": "http", "url": f"{target.url}/fix", "method": "POST"},
            }
        ],
    }


def _run_chaos(tmp_path: Path, experiment: dict[str, Any], premortem: str) -> dict[str, Any]:
    exp = tmp_path / "experiment.json"
    exp.write_text(json.dumps(experiment))
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        "notifications:\n"
        "  - type: http\n"
        f"    url: {premortem}/api/v1/chaostoolkit/events\n"
        "    events: [run-started, run-completed, run-failed, run-deviated]\n"
        "runtime:\n  rollbacks:\n    strategy: always\n"
    )
    journal = tmp_path / "journal.json"
    subprocess.run(
        [CHAOS, "--no-version-check", "--settings", str(settings), "run", str(exp),
         "--journal-path", str(journal)],
        cwd=tmp_path, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    return dict(json.loads(journal.read_text()))


def test_a_passing_run_arrives_as_an_event_and_a_test_run(
    tmp_path: Path, premortem: str, target: Target
) -> None:
    journal = _run_chaos(tmp_path, _experiment(target, breaks=False), premortem)
    expected_id = chaostoolkit.parse(journal)[0].run.test_id
    run = httpx.get(f"{premortem}/api/v1/test-runs/{expected_id}", timeout=5).json()
    assert run["title"] == "Checkout is fine" and run["service"] == "checkout"
    assert run["environment"] == "test" and run["actual_outcome"] == "steady state met"
    assert run["injected_faults"][0]["name"] == "poke" and run["injected_faults"][0]["start"]
    events = httpx.get(f"{premortem}/api/v1/events", params={"type": "chaostoolkit.run-started"})
    (event,) = events.json()["items"]
    assert event["subject"] == "Checkout is fine" and event["service"] == "checkout"
    assert event["attributes"]["methods"] == ["poke"]
    assert (
        event["time"] <= run["timestamp"][:19] + "Z" or event["time"][:16] == run["timestamp"][:16]
    )


def test_a_deviated_run_is_a_failed_test_run_with_its_rollback(
    tmp_path: Path, premortem: str, target: Target
) -> None:
    journal = _run_chaos(tmp_path, _experiment(target, breaks=True), premortem)
    assert journal["deviated"] is True  # status is "completed" or "failed" by chaoslib version
    expected_id = chaostoolkit.parse(journal)[0].run.test_id
    runs = httpx.get(f"{premortem}/api/v1/test-runs", params={"outcome": "fail"}).json()
    assert [r["test_id"] for r in runs["items"]] == [expected_id]  # run-failed + run-deviated: once
    (run,) = runs["items"]
    assert run["actual_outcome"] == "steady state deviated" and run["deviated"] is True
    assert "health-returns-200" in run["failure_details"] and run["failure_detected_at"]
    assert run["failure_time"] is None  # when the probe noticed is not when it broke
    assert run["injected_faults"][0]["type"] == "break_dependency" or run["injected_faults"]
    assert [r["name"] for r in run["rollbacks"]] == ["fix-dependency"]


def test_other_events_and_payloadless_gets_are_acknowledged(premortem: str) -> None:
    url = f"{premortem}/api/v1/chaostoolkit/events"
    answer = httpx.post(url, json={"name": "validate-completed", "payload": {}, "ts": 1.7e9})
    assert answer.status_code == 200 and answer.json()["ignored"] is True
    listed = httpx.get(url).json()  # a payloadless GET is a read: the stored events, as a list
    assert set(listed) == {"items", "total"} and listed["total"] == len(listed["items"])
    bad = httpx.post(url, json={"payload": {}})
    assert bad.status_code == 400 and "/name" in bad.text
