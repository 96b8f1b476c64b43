"""Issues 12 and 15: after `premortem demo --quick`, the Backtest page scores the demo's early
alert as a hit, with its lead time — the live failure is a failure, not a gap in the record."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from conftest import SCREENSHOTS, Watched, serve
from premortem.config import Settings
from premortem.domain import rfc3339_ns
from premortem.ingest.fields import rfc3339_to_ns
from premortem.service.app import create_app
from quick_demo import run_quick_demo

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MIN_LEAD_TIME_S = 5.0


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, object]]]:
    workdir = tmp_path_factory.mktemp("demo")
    completed = run_quick_demo(workdir)
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    (database,) = workdir.glob("premortem-demo-*/premortem.db")
    app = create_app(Settings(database_url=f"sqlite:///{database}"))
    for url in serve(app):
        yield url, result


def _field(time_ns: int) -> str:
    """What a browser's date-time field sends (UTC, to the second)."""
    return rfc3339_ns(time_ns)[:19]


def test_the_demos_early_alert_is_a_hit_with_its_lead_time(
    demo: tuple[str, dict[str, object]], watched: Watched
) -> None:
    url, result = demo
    assert result["alert_before_failure"] is True, result
    failed_ns = rfc3339_to_ns(str(result["first_failure_at"]))
    page = watched.page
    # The live phase: after the last chaos run started (those trained the model) to a minute
    # after the failure, as `backtest history` is asked in tests/e2e/test_demo.py.
    runs = httpx.get(f"{url}/api/v1/test-runs", params={"limit": 100}).json()["items"]
    last_run_ns = max(rfc3339_to_ns(r["timestamp"]) for r in runs)
    since, until = _field(last_run_ns + 2 * 10**9), _field(failed_ns + 60 * 10**9)
    page.goto(f"{url}/backtest?range=custom&from={since}&to={until}")
    metrics = page.locator(".metrics")
    recall = metrics.get_by_role("listitem").filter(has_text="Recall")
    expect(recall.locator(".value")).to_have_text("100%")
    precision = metrics.get_by_role("listitem").filter(has_text="Precision")
    expect(precision.locator(".value")).to_have_text("100%")
    lead = metrics.get_by_role("listitem").filter(has_text="Median lead time")
    text = lead.locator(".value").inner_text()
    seconds = re.fullmatch(r"(\d+(?:\.\d+)?) ?s", text.strip())
    assert seconds and float(seconds.group(1)) >= MIN_LEAD_TIME_S, text
    expect(page.locator("main")).to_contain_text("1 failure in range")
    expect(page.locator("#bt-lead")).to_have_attribute("data-drawn", re.compile(".+"))
    page.screenshot(path=str(SCREENSHOTS / "backtest-demo.png"), full_page=True)
    assert watched.errors == []
