"""The web UI in a real browser: every page with seeded data, the path from the home page to an
alert's evidence, feedback stored, hostile log lines shown as text, and the login."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect
from ui_seed import FAILED_RUN, IMG_LINE, MODE_ID, POOL_LINE, SCRIPT_LINE

from conftest import SCREENSHOTS, Server, Watched, serve
from premortem.alerting.model import FeedbackKind
from premortem.config import Settings
from premortem.service.app import create_app

pytestmark = pytest.mark.e2e

PAGES = [
    ("home", "/", "Database connection pool exhaustion"),
    ("failure-modes", "/modes", "Work queue overflow"),
    ("failure-mode-detail", f"/modes/{MODE_ID}", "Raise the pool size to 20"),
    ("failure-mode-edit", f"/modes/{MODE_ID}/edit", "Manifestation"),
    ("alerts", "/alerts", "Database connection pool exhaustion"),
    ("alert-detail", "/alerts/{alert}", "connection pool exhausted"),
    ("logs-patterns", "/logs", "Rate burst of “"),
    ("log-search", "/logs/search?q=pool", "connection pool exhausted"),
    ("test-runs", "/test-runs", FAILED_RUN),
    ("test-run-detail", f"/test-runs/{FAILED_RUN}", "network_latency"),
    ("backtest", "/backtest", "Precision"),
]


def _open(watched: Watched, url: str) -> Page:
    page = watched.page
    page.goto(url)
    if page.locator("[data-figure]").count():
        page.wait_for_function(
            "[...document.querySelectorAll('[data-figure]')].every(e => e.dataset.drawn)"
        )
    return page


@pytest.mark.parametrize(("name", "path", "expected"), PAGES, ids=[p[0] for p in PAGES])
def test_page_loads_with_seeded_data(
    server: Server, watched: Watched, name: str, path: str, expected: str
) -> None:
    page = _open(watched, server.url + path.format(alert=server.seeded.alert_id))
    expect(page.locator("main")).to_contain_text(expected)
    assert page.locator("h1").count() == 1
    assert watched.errors == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_home_click_reaches_alert_evidence_and_its_log_lines(
    server: Server, watched: Watched
) -> None:
    page = _open(watched, server.url + "/")
    row = page.locator("#ranking-body tr", has_text="Database connection pool exhaustion")
    row.get_by_role("link", name="alert evidence").click()
    expect(page).to_have_url(re.compile(rf"/alerts/{server.seeded.alert_id}$"))
    evidence = page.locator("#evidence")
    expect(evidence).to_contain_text("connection pool exhausted <*>")
    # Issue 15: one compact timeline of this incident, in time order, the alert in its place,
    # raw lines folded under their template, training excerpts in their own section.
    rows = page.locator("tr.timeline-row")
    expect(rows.filter(has_text="alert raised")).to_have_count(1)
    kinds = [rows.nth(i).get_attribute("data-kind") for i in range(rows.count())]
    times = [rows.nth(i).locator("td").first.text_content() for i in range(rows.count())]
    assert times == sorted(times)
    assert kinds.index("alert") > 0 and kinds[: kinds.index("alert")] == [
        "precursor"
    ] * kinds.index("alert")
    pool = rows.filter(has_text="connection pool exhausted <*>")
    expect(pool).to_have_count(1)  # consecutive lines of one template are one row
    expect(pool).to_contain_text("×")
    raw = pool.locator("pre.sample").first
    expect(raw).to_be_hidden()
    pool.locator("summary").click()
    expect(raw).to_contain_text(POOL_LINE.split(":")[0])
    expect(evidence).to_contain_text("From training: where this mode was learned")
    assert watched.errors == []


def test_home_page_refreshes_live(server: Server, watched: Watched) -> None:
    page = _open(watched, server.url + "/")
    before = page.locator("#updated").text_content()
    with page.expect_response(lambda r: "/ui/data/home" in r.url, timeout=15_000):
        pass
    expect(page.locator("#updated")).not_to_have_text(before or "", timeout=5_000)
    expect(page.locator("#ranking-body tr")).to_have_count(2)


def test_feedback_submitted_in_the_browser_is_stored(server: Server, watched: Watched) -> None:
    alert_id = server.seeded.alert_id
    page = _open(watched, f"{server.url}/alerts/{alert_id}")
    page.get_by_label("Comment (optional)").fill("pool really ran dry <b>twice</b>")
    page.get_by_role("button", name="Confirmed").click()
    expect(page.get_by_role("status")).to_contain_text("feedback is stored")
    stored = server.app.state.runtime.alerting.store.list_feedback(alert_id)
    assert [(f.kind, f.comment) for f in stored][-1] == (
        FeedbackKind.CONFIRMED,
        "pool really ran dry <b>twice</b>",
    )
    expect(page.locator("#feedback-list")).to_contain_text("<b>twice</b>")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_contain_text("acknowledged")
    assert server.app.state.runtime.alerting.store.get_alert(alert_id).acknowledged


HOSTILE_PAGES = [
    ("/alerts/{alert}", [SCRIPT_LINE, IMG_LINE]),
    ("/logs/search?q=login", [SCRIPT_LINE, IMG_LINE]),
    ("/logs", [SCRIPT_LINE]),
    (f"/modes/{MODE_ID}", [IMG_LINE]),
]


@pytest.mark.parametrize(("path", "lines"), HOSTILE_PAGES, ids=[p[0] for p in HOSTILE_PAGES])
def test_hostile_log_lines_are_shown_as_text_and_run_nothing(
    server: Server, watched: Watched, path: str, lines: list[str]
) -> None:
    page = _open(watched, server.url + path.format(alert=server.seeded.alert_id))
    for line in lines:
        expect(page.locator("main")).to_contain_text(line)
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("main script:not([type='application/json'])").count() == 0
    assert page.locator("main img").count() == 0
    assert watched.dialogs == []
    assert watched.errors == []


def test_hand_written_mode_is_created_and_edited(server: Server, watched: Watched) -> None:
    page = _open(watched, server.url + "/modes/new")
    page.get_by_label("Name").fill("Disk fills <up>")
    page.get_by_label("Service it threatens").fill("checkout")
    page.get_by_label("Severity").select_option("critical")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_contain_text("created")
    expect(page.locator("h1")).to_contain_text("Disk fills <up>")
    page.get_by_role("link", name="Add a trigger").click()
    page.get_by_label("Description").fill("disk usage above 90%")
    page.get_by_label("Observed lead times").fill("600, 900")
    page.get_by_role("button", name="Save trigger").click()
    page.get_by_role("link", name="Add a mitigation").click()
    page.get_by_label("Action").fill("Rotate and compress logs")
    page.get_by_role("button", name="Save mitigation").click()
    expect(page.locator("main")).to_contain_text("disk usage above 90%")
    expect(page.locator("main")).to_contain_text("Rotate and compress logs")
    mode_id = page.url.split("/modes/")[1].split("?")[0]
    mode = server.app.state.runtime.modes.get_mode(mode_id)
    assert mode.version == 3 and mode.triggers[0].lead_times_s == [600.0, 900.0]
    assert watched.errors == []


def test_keyboard_reaches_the_skip_link_and_navigation(server: Server, watched: Watched) -> None:
    page = _open(watched, server.url + "/")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.closest('main') !== null")
    assert focused


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("guarded") / "ui.db"
    settings = Settings(database_url=f"sqlite:///{path}", tokens="r3ad=read,adm1n=admin")  # type: ignore[arg-type]
    yield from serve(create_app(settings))


def test_pages_need_a_token_and_editing_needs_admin(guarded: str, watched: Watched) -> None:
    page = watched.page
    page.goto(guarded + "/modes")
    expect(page).to_have_url(re.compile(r"/login\?next=" + re.escape(quote("/modes", safe=""))))
    page.get_by_label("Token").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not known")
    page.get_by_label("Token").fill("r3ad")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/modes$"))
    expect(page.get_by_role("link", name="New failure mode")).to_have_count(0)
    cookie = next(c for c in page.context.cookies() if c["name"] == "premortem_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.goto(guarded + "/modes/new").status == 403  # type: ignore[union-attr]
    page.goto(guarded + "/")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Token").fill("adm1n")
    page.get_by_role("button", name="Sign in").click()
    page.goto(guarded + "/modes")
    expect(page.get_by_role("link", name="New failure mode")).to_have_count(1)


def test_cross_site_form_posts_are_refused(server: Server, watched: Watched) -> None:
    response = watched.page.request.post(
        f"{server.url}/alerts/{server.seeded.alert_id}/feedback",
        form={"kind": "false_alarm"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status == 403


def test_backtest_page_draws_the_reliability_diagram(server: Server, watched: Watched) -> None:
    """Issue 12: the page shows how calibrated the stored alerts were, next to false alarms."""
    page = _open(watched, server.url + "/backtest")
    figure = page.locator("#bt-reliability")
    expect(figure).to_have_attribute("data-drawn", re.compile(".+"))
    expect(figure.locator("svg").first).to_be_visible()
    expect(figure).to_contain_text("probability the alert said (%)")
    ece = page.locator(".metric", has_text="Calibration error (ECE)").locator(".value")
    expect(ece).to_have_text(re.compile(r"^\d\.\d\d$"))
    assert watched.errors == []


def test_mode_detail_lead_time_range_is_numpys_p10_p90(server: Server, watched: Watched) -> None:
    """Issue 15: the trigger table's "median (p10–p90)" are numpy's percentiles of the trigger's
    lead times (it showed the wrong ranks), and the histogram counts seconds, as the table."""
    import numpy as np

    from premortem.service.ui.web import duration

    page = _open(watched, server.url + f"/modes/{MODE_ID}")
    mode = server.app.state.runtime.modes.get_mode(MODE_ID)
    for trigger in mode.triggers:
        leads = trigger.lead_times_s
        p10, median, p90 = (float(np.percentile(leads, q)) for q in (10, 50, 90))
        row = page.locator("tr", has_text=trigger.description)
        expected = f"{duration(median)} ({duration(p10)}–{duration(p90)}, n={len(leads)})"
        expect(row).to_contain_text(expected)
    expect(page.locator("main")).to_contain_text("lead time before onset (s)")
    # training excerpts say when and in which test run they were logged
    excerpt = page.locator(".card", has_text="login failed for user <*>")
    expect(excerpt).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC · test run"))
    assert watched.errors == []


def test_logs_page_draws_the_rate_chart_and_names_templates_by_text(
    server: Server, watched: Watched
) -> None:
    """Issue 15: the rate chart is drawn (a macro of the same name hid it: "No templates yet."
    above a table of templates), and an anomaly names its template by text, not number."""
    page = _open(watched, server.url + "/logs?range=7d")
    figure = page.locator("#rates")
    expect(figure).to_have_attribute("data-drawn", re.compile(".+"))
    expect(figure.locator("svg").first).to_be_visible()
    expect(figure).to_contain_text("lines per minute")
    expect(page.locator("main")).not_to_contain_text("No templates yet.")
    pool = server.seeded.pool_template_id
    text = next(
        t.template for t in server.app.state.runtime.pipeline.catalog.templates() if t.id == pool
    )
    row = page.locator("tr", has_text="Rate burst of")
    expect(row).to_contain_text(f"Rate burst of “{text}” in checkout")
    expect(row).not_to_contain_text(f"template {pool} ")
    assert watched.errors == []
