"""The simulation pages in a real browser (same setup as the dashboard's tests: uvicorn on a free
port, Debian's chromium): Playback plays a simulation beside replayed logs of the same service
and the cursor moves; What-If runs from the sliders and draws its chart."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect
from sim_seed import INCIDENT_S, SERVICE, seed_simulation_pages

from conftest import SCREENSHOTS, Watched, serve
from load_tests_seed import post_load_tests
from premortem.config import Settings
from premortem.service.app import create_app

pytestmark = pytest.mark.e2e


@dataclass
class SimServer:
    url: str
    simulation_id: str


@pytest.fixture(scope="module")
def sim_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    path = tmp_path_factory.mktemp("sim-ui") / "ui.db"
    app = create_app(Settings(database_url=f"sqlite:///{path}"))
    simulation_id = seed_simulation_pages(app.state.runtime)
    for url in serve(app):
        yield SimServer(url, simulation_id)


def _cursor_x(page: Page) -> float:
    return float(page.evaluate("() => document.getElementById('panel-0').layout.shapes[0].x0"))


def test_simulations_list_links_to_playback(sim_server: SimServer, watched: Watched) -> None:
    page = watched.page
    page.goto(sim_server.url + "/simulations")
    expect(page.locator("main")).to_contain_text(sim_server.simulation_id)
    expect(page.locator("main")).to_contain_text("pool_exhausted")
    page.get_by_role("link", name="Playback").last.click()
    expect(page.locator("h1")).to_have_text("Simulation Playback")
    assert watched.errors == []


def test_playback_plays_beside_replayed_logs_and_the_cursor_moves(
    sim_server: SimServer, watched: Watched
) -> None:
    page = watched.page
    page.goto(f"{sim_server.url}/simulations/{sim_server.simulation_id}/playback")
    page.wait_for_selector("#playback[data-ready='1']")
    # Load, Errors, Utilisation and latency, Queues
    assert page.locator("#panels .chart[data-drawn='1']").count() == 4
    legend = page.locator("#panels").inner_text()
    assert "simulated throughput" in legend and "observed log_rate" in legend
    assert "observed error_ratio" in legend
    expect(page.locator("#playback-aligned")).to_contain_text(
        f"2024-06-03 10:00:00 UTC on {SERVICE}"
    )
    markers = page.locator("#markers-body")
    for text in ("pool_exhausted", "fault_started", "rate_burst", "Connection pool exhaustion"):
        expect(markers).to_contain_text(text)
    expect(markers).to_contain_text("<script>window.__pwned=1</script>")  # shown as text
    assert page.evaluate("() => window.__pwned") is None
    label = page.locator("#cursor-time")
    expect(label).to_have_text("t = 0.0 s · 2024-06-03 10:00:00 UTC")

    page.locator("#speed").select_option("60")
    page.locator("#play").click()
    expect(page.locator("#play")).to_have_attribute("aria-pressed", "true")
    page.wait_for_function("() => Number(document.getElementById('playback').dataset.t) > 5")
    page.locator("#play").click()  # pause
    expect(page.locator("#play")).to_have_text("Play")
    played = float(page.locator("#playback").get_attribute("data-t") or 0)
    assert played > 5 and _cursor_x(page) == pytest.approx(played)
    assert label.inner_text() != "t = 0.0 s · 2024-06-03 10:00:00 UTC"

    page.locator("#cursor").fill("135")
    expect(label).to_have_text("t = 135.0 s · 2024-06-03 10:02:15 UTC")
    assert _cursor_x(page) == pytest.approx(135)
    passed = page.locator("#markers-body tr.passed")
    expect(passed).to_have_count(8)  # every marker up to the anomalies at 130 s, not the alert
    assert watched.errors == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "playback.png"), full_page=True)


def test_what_if_from_the_sliders_draws_the_chart(sim_server: SimServer, watched: Watched) -> None:
    page = watched.page
    page.goto(sim_server.url + "/what-if")
    expect(page.locator("#param-request_rate")).to_be_disabled()  # the varied one
    page.locator("#param-pool_size").fill("4")
    expect(page.locator("#param-pool_size-value")).to_have_text("4 connections")
    page.locator("#whatif-to").fill("200")
    page.locator("#whatif-fault").select_option("latency")
    page.locator("#whatif-fault-value").fill("0.01")
    page.locator("#whatif-run").click()
    page.wait_for_selector("#whatif-chart[data-drawn='1']", timeout=30_000)
    expect(page.locator("#whatif-status")).to_contain_text("10 points in")
    expect(page.locator("#whatif-inference")).to_contain_text("simulation-only")
    row = page.locator("#whatif-body tr[data-mode='pool_exhaustion']")
    expect(row).to_contain_text("request_rate = ")
    expect(row).to_contain_text("raise the pool size or shed load")
    assert page.locator("#whatif-chart .scatterlayer .trace").count() == 3
    assert watched.errors == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "whatif.png"), full_page=True)


def test_what_if_shows_a_bad_parameter(sim_server: SimServer, watched: Watched) -> None:
    page = watched.page
    page.goto(sim_server.url + "/what-if")
    page.locator("#whatif-from").fill("-10")
    page.locator("#whatif-run").click()
    expect(page.locator("#whatif-status")).to_contain_text("request_rate")
    expect(page.locator("#whatif-status")).to_contain_text("Error")


def test_playback_aligns_with_a_test_run_or_incident_picked_from_a_list(
    sim_server: SimServer, watched: Watched
) -> None:
    """Issue 15: no RFC 3339 typing: pick the live window; the simulation's start follows (its
    first fault, at 100 s, lands on an incident's time)."""
    page = watched.page
    page.goto(f"{sim_server.url}/simulations/{sim_server.simulation_id}/playback")
    menu = page.locator("select[name=start]")
    expect(menu.locator("option", has_text="test run leak-rerun-7 (fail)")).to_have_count(1)
    page.locator("input[name=at]").fill("2030-01-01T00:00:00Z")  # cleared by the menu choice
    menu.select_option(label=menu.locator("option", has_text="leak-rerun-7").inner_text())
    page.wait_for_selector("#playback[data-ready='1']")
    expect(page.locator("#playback-aligned")).to_contain_text("2024-06-03 10:10:00 UTC")
    menu = page.locator("select[name=start]")
    incident = menu.locator("option", has_text="incident.opened").inner_text()
    menu.select_option(label=incident)
    page.wait_for_selector("#playback[data-ready='1']")
    # the incident (INCIDENT_S = 900 s: 10:15:00) minus the simulated fault's 100 s offset
    assert INCIDENT_S == 900
    expect(page.locator("#playback-aligned")).to_contain_text("2024-06-03 10:13:20 UTC")
    assert watched.errors == []


@pytest.fixture(scope="module")
def load_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server that learned from load tests of its own (`concurrent_users`)."""
    path = tmp_path_factory.mktemp("load-ui") / "ui.db"
    app = create_app(Settings(database_url=f"sqlite:///{path}"))
    for url in serve(app):
        with httpx.Client(base_url=url, timeout=60) as client:
            post_load_tests(client)
            app.state.runtime.pipeline.drain()
            assert client.post("/api/v1/train").status_code == 200
        yield url


def test_what_if_varies_a_learned_load_parameter(load_server: str, watched: Watched) -> None:
    page = watched.page
    page.goto(load_server + "/what-if")
    expect(page.locator("#whatif-load")).to_contain_text("learned: ≥ 150")
    page.locator("#whatif-change").select_option("concurrent_users")
    expect(page.locator("#load-concurrent_users")).to_be_disabled()  # the varied one
    expect(page.locator("#whatif-to")).to_have_value("300")
    page.locator("#whatif-steps").fill("4")
    page.locator("#whatif-run").click()
    page.wait_for_selector("#whatif-chart[data-drawn='1']", timeout=30_000)
    expect(page.locator("#whatif-inference")).to_contain_text("load:concurrent_users>=150")
    row = page.locator("#whatif-body tr", has_text="shop: connection pool exhaustion")
    expect(row).to_contain_text("concurrent_users = 200")
    assert watched.errors == []
