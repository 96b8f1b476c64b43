"""Simulation Playback beside live metrics a real Prometheus remote-wrote (Debian `prometheus` on a
free port with its own storage): Prometheus scrapes a small exporter of the service's pool
utilisation every second and sends the samples to `POST /api/v1/write`; the page draws the live
series on the simulated `pool_utilisation`'s axis, in its unit. The screenshot is
docs/screenshots/playback-live.png (`make screenshots`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sim_seed import SERVICE, seed_simulation_pages

from conftest import SCREENSHOTS, Watched, serve
from premortem.config import Settings
from premortem.domain import rfc3339_ns
from premortem.service.app import create_app
from prometheus_server import running_prometheus, wait_for

pytestmark = pytest.mark.e2e

CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: pool-exporter
    static_configs:
      - targets: ["{exporter}"]
remote_write:
  - url: "{premortem}/api/v1/write"
    queue_config:
      batch_send_deadline: 1s
"""
POINTS = 20


class _Exporter(BaseHTTPRequestHandler):
    """Pool utilisation rising from 0.3 by 0.03 a second, as a saturating pool would."""

    started = time.monotonic()

    def do_GET(self) -> None:
        value = min(0.3 + 0.03 * (time.monotonic() - self.started), 1.0)
        body = (
            "# TYPE pool_utilisation gauge\n"
            f'pool_utilisation{{service="{SERVICE}",pool="db"}} {value:.4f}\n'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """premortem with a seeded simulation, fed by a real Prometheus: (url, simulation id)."""
    workdir = tmp_path_factory.mktemp("playback-live")
    app = create_app(Settings(database_url=f"sqlite:///{workdir / 'ui.db'}"))
    simulation_id = seed_simulation_pages(app.state.runtime)
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    for url in serve(app):
        target = f"127.0.0.1:{exporter.server_address[1]}"
        config = CONFIG.replace("{exporter}", target).replace("{premortem}", url)
        try:
            with running_prometheus(config, workdir / "prometheus"):
                yield url, simulation_id
        finally:
            exporter.shutdown()


def _live_points(url: str) -> list[list[float]]:
    def enough() -> list[list[float]]:
        listed = httpx.get(f"{url}/api/v1/series", params={"metric": "pool_utilisation"}).json()
        items = listed["items"]
        return items[0]["points"] if items and len(items[0]["points"]) >= POINTS else []

    points: list[list[float]] = wait_for(
        enough, timeout_s=90, what=f"{POINTS} remote-written samples", every_s=0.5
    )
    return points


def test_playback_draws_the_remote_written_series_beside_the_simulated_one(
    live_server: tuple[str, str], watched: Watched
) -> None:
    url, simulation_id = live_server
    points = _live_points(url)
    start = rfc3339_ns(int(points[0][0]))
    page = watched.page
    page.goto(f"{url}/simulations/{simulation_id}/playback?start={start}")
    page.wait_for_selector("#playback[data-ready='1']")
    panel = page.locator("#panels section", has_text="Utilisation and latency")
    chart = panel.locator(".chart")
    traces = chart.evaluate("(el) => el.data.map((t) => [t.name, t.yaxis, t.y.length])")
    by_name = {name: (axis, n) for name, axis, n in traces}
    assert by_name["simulated pool_utilisation"][0] == "y"
    live_axis, live_points = by_name["observed live pool_utilisation (ratio)"]
    assert live_axis == "y" and live_points >= POINTS  # same axis, same unit
    y_title = chart.evaluate("(el) => el.layout.yaxis.title.text")
    assert y_title == "ratio"
    assert watched.errors == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "playback-live.png"), full_page=True)
