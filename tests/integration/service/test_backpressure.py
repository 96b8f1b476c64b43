"""Issue 14, item 2: analysis falls behind gracefully. Ingestion does not wait for analysis; its lag
(records, seconds) is in /metrics; past `analysis_queue_records` a batch is refused *before* it is
stored — 429 problem+json with Retry-After — and the sender's retry stores it once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from premortem.config import Settings
from premortem.domain import LogRecord
from premortem.service.app import create_app

BOUND = 50
T0 = 1_764_000_000_000_000_000


def _batch(first: int, n: int) -> list[dict[str, object]]:
    return [
        {
            "timestamp": T0 + (first + i) * 1_000_000,
            "service": "shop",
            "body": f"order {first + i} ok",
        }
        for i in range(n)
    ]


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[TestClient, threading.Event]]:
    """An app whose analysis is held until the event is set (a slow detector, say)."""
    app = create_app(
        Settings(database_url=f"sqlite:///{tmp_path / 'b.db'}", analysis_queue_records=BOUND)
    )
    release = threading.Event()

    def slow(records: Sequence[LogRecord]) -> None:
        release.wait(30)

    with TestClient(app, base_url="http://localhost") as client:
        app.state.runtime.pipeline.stages.on_logs.insert(0, slow)
        yield client, release
        release.set()


def _metric(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def _stored(client: TestClient) -> int:
    return int(client.get("/api/v1/logs", params={"service": "shop", "limit": 1}).json()["total"])


def test_behind_its_bound_ingestion_answers_429_and_stores_nothing(
    held: tuple[TestClient, threading.Event],
) -> None:
    client, release = held
    sent = 0
    for _ in range(BOUND // 20):  # within the bound: answered at once, analysis or not
        started = time.monotonic()
        assert client.post("/api/v1/logs", json=_batch(sent, 20)).status_code == 200
        assert time.monotonic() - started < 2
        sent += 20
    time.sleep(0.2)
    assert _metric(client, "premortem_analysis_lag_records") >= 20
    assert _metric(client, "premortem_analysis_lag_seconds") > 0.1
    assert _metric(client, "premortem_analysis_queue_bound_records") == BOUND
    stored = _stored(client)

    refused = client.post("/api/v1/logs", json=_batch(sent, 20))
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["Retry-After"]) <= 30
    assert "behind" in refused.json()["detail"]
    assert _stored(client) == stored, "a refused batch must not be stored"

    release.set()  # analysis catches up; the sender's retry goes through, stored once
    client.app.state.runtime.pipeline.drain()  # type: ignore[attr-defined]
    assert _metric(client, "premortem_analysis_lag_records") == 0
    retried = client.post("/api/v1/logs", json=_batch(sent, 20))
    assert retried.status_code == 200
    again = client.post("/api/v1/logs", json=_batch(sent, 20))  # a duplicate retry
    assert again.status_code == 200
    client.app.state.runtime.pipeline.drain()  # type: ignore[attr-defined]
    assert _stored(client) == sent + 20


def test_the_dashboard_shows_the_analysis_lag(held: tuple[TestClient, threading.Event]) -> None:
    client, _ = held
    assert client.post("/api/v1/logs", json=_batch(0, 20)).status_code == 200
    time.sleep(0.2)
    data = client.get("/ui/data/home").json()
    assert data["analysis_lag"]["records"] == 20 and data["analysis_lag"]["seconds"] > 0
    assert "analysis 20 records" in client.get("/").text
