"""Issue 15: a fresh `make serve` (the 2023 seed example) opens on its data without touching a
control; an empty chosen range offers a jump to the data; from/to are in the URL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from conftest import Watched, serve
from premortem.commands.serve import _load_example_on_start
from premortem.config import Settings
from premortem.examples import load_seed_example
from premortem.service.app import create_app

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path: Path = tmp_path_factory.mktemp("serve") / "example.db"
    app = create_app(Settings(database_url=f"sqlite:///{path}"))
    _load_example_on_start(app)  # what `premortem serve --example` (make serve) does
    yield from serve(app)


def _timeline_failures(watched: Watched) -> list[str]:
    figure = json.loads(watched.page.locator("#timeline-data").text_content() or "{}")
    return [x for trace in figure.get("data", []) for x in trace.get("x", [])]


def test_home_page_shows_the_seed_example_without_touching_a_control(
    served: str, watched: Watched
) -> None:
    page = watched.page
    page.goto(served + "/")
    onset = load_seed_example()[0].run.onset.isoformat()[:16]  # 2023-11-15T14:3x
    assert any(str(x).startswith(onset) for x in _timeline_failures(watched))
    expect(page.locator("input[name=from]")).to_have_value(re.compile("^2023-11-15T14:2"))
    expect(page.locator("select[name=range]")).to_have_value("custom")
    expect(page.locator("main")).not_to_contain_text("Nothing stored in this range")
    assert watched.errors == []


def test_an_empty_range_offers_a_jump_to_the_data(served: str, watched: Watched) -> None:
    page = watched.page
    page.goto(served + "/logs?range=1h")
    expect(page.locator("main")).to_contain_text("Nothing stored in this range")
    page.get_by_role("link", name=re.compile("Jump to the stored data")).click()
    expect(page).to_have_url(
        re.compile(r"range=custom&from=2023-11-15T14%3A2|from=2023-11-15T14:2")
    )
    expect(page.locator("#rates")).to_have_attribute("data-drawn", re.compile(".+"))
    expect(page.locator("main")).to_contain_text("connection pool exhausted")
    assert watched.errors == []


def test_typing_from_and_to_selects_an_absolute_range(served: str, watched: Watched) -> None:
    page = watched.page
    page.goto(served + "/logs/search?range=1h")
    page.locator("input[name=from]").fill("2023-11-15T14:34:00")
    page.locator("input[name=to]").fill("2023-11-15T14:36:00")
    expect(page.locator("select[name=range]")).to_have_value("custom")
    page.get_by_role("button", name="Search").or_(
        page.get_by_role("button", name="Apply")
    ).first.click()
    expect(page).to_have_url(re.compile("range=custom"))
    expect(page.locator("main")).to_contain_text("connection pool exhausted")
    assert watched.errors == []
