"""A real Prometheus (Debian `prometheus`, on a free port with its own storage) remote-writes to
premortem: it scrapes itself every second and sends every sample to `POST /api/v1/write`, and
premortem lists them as series with their labels through `GET /api/v1/series`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from premortem.demo.servers import free_port
from premortem_serving import PremortemProcess
from prometheus_server import running_prometheus, wait_for

pytestmark = pytest.mark.integration

CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  external_labels:
    cluster: "lab-1"
scrape_configs:
  - job_name: self
    static_configs:
      - targets: ["127.0.0.1:{port}"]
remote_write:
  - url: "{premortem}/api/v1/write"
    queue_config:
      batch_send_deadline: 1s
      max_samples_per_send: 2000
"""


@pytest.fixture
def premortem(premortem_process: Callable[..., PremortemProcess], tmp_path: Path) -> str:
    server = premortem_process(f"sqlite:///{tmp_path / 'premortem.db'}")
    server.start()
    return server.url


@pytest.fixture
def prometheus(premortem: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()  # its own /metrics is what it scrapes and remote-writes
    config = CONFIG.replace("{port}", str(port)).replace("{premortem}", premortem)
    with running_prometheus(config, tmp_path / "prometheus", port=port) as url:
        yield url


def test_prometheus_remote_writes_series_that_premortem_lists(
    premortem: str, prometheus: str
) -> None:
    def up_series() -> list[dict[str, Any]]:
        listed = httpx.get(f"{premortem}/api/v1/series", params={"metric": "up"}, timeout=5)
        assert listed.status_code == 200, listed.text
        items: list[dict[str, Any]] = listed.json()["items"]
        return items if items and len(items[0]["points"]) >= 2 else []

    (series,) = wait_for(up_series, timeout_s=60, what="Prometheus' `up` samples in premortem")
    assert series["labels"] == {
        "job": "self",
        "instance": prometheus.removeprefix("http://"),
        "cluster": "lab-1",
    }
    times = [t for t, _ in series["points"]]
    assert times == sorted(times) and all(value == 1.0 for _, value in series["points"])
    assert abs(times[-1] / 1e9 - time.time()) < 60  # Prometheus' own clock, in ns
    # Counters and gauges of Prometheus itself arrive too, each under its own name.
    samples = httpx.get(
        f"{premortem}/api/v1/series",
        params={"metric": "prometheus_tsdb_head_series"},
        timeout=5,
    ).json()
    assert samples["total"] == 1
