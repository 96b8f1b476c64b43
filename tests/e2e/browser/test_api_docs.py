"""Issue 15: `/docs` and `/redoc` render the API from files of this server, under its CSP, with
every request to anywhere but the server itself blocked (no CDN, no internet)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from conftest import SCREENSHOTS, Server, Watched

pytestmark = pytest.mark.e2e


def _offline(page: Page, server: Server) -> tuple[list[str], list[str]]:
    """Abort every request that leaves the server; collect every console error unfiltered."""
    own = urlsplit(server.url).netloc
    blocked: list[str] = []
    errors: list[str] = []

    def route(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    return blocked, errors


def test_swagger_ui_renders_the_operations_offline(server: Server, watched: Watched) -> None:
    page = watched.page
    blocked, errors = _offline(page, server)
    page.goto(server.url + "/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)
    expect(page.locator("#swagger-ui")).to_contain_text("/api/v1/logs")
    assert page.locator(".opblock").count() >= 40
    page.screenshot(path=str(SCREENSHOTS / "api-docs.png"))
    assert blocked == []
    assert errors == []


def test_redoc_renders_the_operations_offline(server: Server, watched: Watched) -> None:
    page = watched.page
    blocked, errors = _offline(page, server)
    page.goto(server.url + "/redoc")
    expect(page.locator("#redoc")).to_contain_text("/api/v1/logs", timeout=15_000)
    # ReDoc draws its footer logo after the first render: wait until every image has loaded (or
    # failed) so a blocked CDN logo shows up as a console error instead of racing the asserts.
    expect(page.locator("#redoc")).to_contain_text("API docs by Redocly")
    page.wait_for_function("[...document.images].every(img => img.complete)")
    sources = page.eval_on_selector_all("img", "imgs => imgs.map(img => img.src)")
    assert [
        src for src in sources if src.startswith("http") and not src.startswith(server.url)
    ] == []
    assert blocked == []
    assert errors == []
