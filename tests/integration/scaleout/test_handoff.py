"""The scale-out request path when the log stream is not there (real nats-server; never skips).

A stream that cannot be reached at start is a one-line error for `serve` and `worker`; a batch
the stream did not acknowledge is answered 503 with Retry-After, and nothing of it is stored.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from premortem.bus import stream_name
from premortem.bus.jetstream import JetStreamBus
from premortem.config import Settings
from premortem.errors import ConfigError
from premortem.runtime.assembly import build_runtime
from premortem.service.app import create_app

pytestmark = pytest.mark.integration

NATS_URL = os.environ.get("PREMORTEM_TEST_NATS_URL", "nats://127.0.0.1:4222")
NOBODY = "nats://127.0.0.1:9"  # the discard port: nothing speaks NATS there


def test_serve_refuses_to_start_without_its_stream(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", bus_url=NOBODY)
    with pytest.raises(ConfigError, match=re.escape(f"cannot reach the log stream at {NOBODY}")):
        build_runtime(settings)


def _worker(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("premortem")), "worker"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_worker_without_its_stream_is_one_line_and_exit_1(fresh_postgres_url: str) -> None:
    done = _worker(PREMORTEM_DATABASE_URL=fresh_postgres_url, PREMORTEM_BUS_URL=NOBODY)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == f"premortem: no NATS server answered at {NOBODY} (PREMORTEM_BUS_URL)"
    assert "Traceback" not in done.stderr


def test_worker_refuses_sqlite_and_a_missing_bus(tmp_path: Path) -> None:
    sqlite = f"sqlite:///{tmp_path / 'w.db'}"
    done = _worker(PREMORTEM_DATABASE_URL=sqlite, PREMORTEM_BUS_URL=NATS_URL)
    assert done.returncode == 1
    assert done.stderr.strip().startswith("premortem: a worker needs PostgreSQL"), done.stderr
    done = _worker(PREMORTEM_DATABASE_URL=sqlite, PREMORTEM_BUS_URL="")
    assert done.returncode == 1
    assert "a worker needs PREMORTEM_BUS_URL" in done.stderr, done.stderr


def test_a_batch_the_stream_did_not_take_is_503_and_stores_nothing(tmp_path: Path) -> None:
    name = f"t{uuid.uuid4().hex[:12]}"
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'h.db'}",
        bus_url=NATS_URL,
        bus_name=name,
        allowed_hosts=["testserver"],  # the name TestClient sends
    )
    with TestClient(create_app(settings)) as client:
        sent = [{"timestamp": 1_790_000_000 * 10**9, "service": "api", "body": "hello"}]
        first = client.post("/api/v1/logs", json=sent)
        assert first.status_code == 200, first.text

        async def drop_the_stream() -> None:
            bus = await JetStreamBus.connect(NATS_URL, prefix=name, stream=stream_name(name))
            await bus.delete_stream()
            await bus.close()

        # On a thread of its own: the browser tests leave an event loop on the main one.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, drop_the_stream()).result()
        answer = client.post("/api/v1/logs", json=[{**sent[0], "body": "lost?"}])
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert int(answer.headers["Retry-After"]) > 0
        assert "did not acknowledge the batch" in answer.json()["detail"]
        # the server never stores log records itself in scale-out: the workers do
        assert client.get("/api/v1/logs").json()["total"] == 0
