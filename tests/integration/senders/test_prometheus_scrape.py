"""The open predictions, scraped by a real Prometheus (Debian `prometheus`, started here on a free
port with its own storage): a trained model and live logs make a prediction, Prometheus shows it
with the labels and value the API gives, and the series goes away when the failure manifests.

The service is named the way a hostile log shipper would name it, so its label value must cross
the text exposition format escaped and come back from Prometheus unchanged. The alert rule and
the Grafana query of docs/alerting.md ("Predictions in Prometheus") are loaded and run as written.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.test_alert_flow import PRECURSOR, history_of, line, normal_lines
from premortem_serving import PremortemProcess
from prometheus_server import running_prometheus, wait_for

pytestmark = pytest.mark.integration

SECOND = 1_000_000_000
SERVICE = 'check"out\\eu\nwest'  # a double quote, a backslash, a line break
FAILURE_LINE = "request failed: pool exhausted after 3000ms"
DOC = Path(__file__).parents[3] / "docs" / "alerting.md"
CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: premortem
    metrics_path: /metrics
    static_configs:
      - targets: ["{target}"]
"""


def documented(kind: str) -> str:
    """The `kind` code block of the docs' "Predictions in Prometheus" section."""
    section = DOC.read_text().split("## Predictions in Prometheus", 1)[1].split("\n## ", 1)[0]
    block = re.search(rf"```{kind}\n(.*?)```", section, re.S)
    assert block, f"no {kind} block in the section"
    return block.group(1)


@pytest.fixture
def premortem(premortem_process: Callable[..., PremortemProcess], tmp_path: Path) -> str:
    server = premortem_process(f"sqlite:///{tmp_path / 'premortem.db'}", PREMORTEM_HORIZON_S="60")
    server.start()
    return server.url


@pytest.fixture
def prometheus(premortem: str, tmp_path: Path) -> Iterator[str]:
    """A Prometheus of this test's own scraping premortem every second: its URL."""
    workdir = tmp_path / "prometheus"
    workdir.mkdir()
    (workdir / "rules.yml").write_text(documented("yaml"))
    config = CONFIG.replace("{target}", premortem.removeprefix("http://"))
    with running_prometheus(config, workdir) as url:
        yield url


def post_logs(http: httpx.Client, records: list[dict[str, Any]]) -> None:
    for start in range(0, len(records), 1000):
        http.post("/api/v1/logs", json=records[start : start + 1000]).raise_for_status()


def train(http: httpx.Client) -> dict[str, Any]:
    """The history of test_alert_flow (two failed runs after a precursor, two clean ones) for
    SERVICE; trains and returns the mode learned for it."""
    start = time.time_ns() - 24 * 3600 * SECOND
    for attempt in range(4):
        run, logs = history_of(SERVICE, attempt, start + attempt * 900 * SECOND)
        http.post("/api/v1/test-runs", json=run).raise_for_status()
        post_logs(http, logs)
    http.post("/api/v1/train", timeout=120).raise_for_status()
    modes = http.get("/api/v1/failure-modes").json()["items"]
    learned: list[dict[str, Any]] = [m for m in modes if m["source"] == "learned"]
    assert [m["service"] for m in learned] == [SERVICE], learned
    return learned[0]


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=5)
    answer.raise_for_status()
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def rule_health(prometheus: str, name: str) -> str:
    """The rule's health: "ok" once evaluated without error ("unknown" before, "err" if bad)."""
    answer = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).raise_for_status()
    groups = answer.json()["data"]["groups"]
    (rule,) = [r for g in groups for r in g["rules"] if r["name"] == name]
    return str(rule["health"])


def test_prometheus_scrapes_the_open_prediction_and_sees_it_go(
    premortem: str, prometheus: str
) -> None:
    http = httpx.Client(base_url=premortem, timeout=30)
    mode = train(http)
    now = time.time_ns()
    post_logs(http, normal_lines(SERVICE, now - 5 * SECOND, now))
    post_logs(http, [line(now, SERVICE, PRECURSOR.format(n=17), "WARN")])

    (predicted,) = wait_for(
        lambda: http.get("/api/v1/predictions", params={"current": "true"}).json()["items"],
        timeout_s=15,
        what="premortem's prediction",
    )
    assert (predicted["mode_id"], predicted["service"]) == (mode["id"], SERVICE)
    (series,) = wait_for(
        lambda: query(prometheus, "premortem_failure_probability"),
        timeout_s=30,
        what="premortem_failure_probability in Prometheus",
    )
    labels = series["metric"]
    assert labels["mode"] == mode["id"]
    assert labels["service"] == SERVICE, "escaped on the way out, read back unchanged"
    assert labels["mode_name"] == mode["name"]
    assert labels["job"] == "premortem"
    assert float(series["value"][1]) == pytest.approx(predicted["probability"])
    assert predicted["lead_time_s"] is not None, "the history has its precursors' lead times"
    (lead,) = query(prometheus, "premortem_expected_lead_seconds")
    assert lead["metric"] == labels | {"__name__": "premortem_expected_lead_seconds"}
    assert float(lead["value"][1]) == pytest.approx(predicted["lead_time_s"])
    counted = query(prometheus, 'premortem_bounded_entries{map="live_predictions"}')
    assert [s["value"][1] for s in counted] == ["1"]
    (grafana,) = query(prometheus, documented("promql"))
    assert grafana["metric"] == {"service": SERVICE, "mode_name": mode["name"]}
    assert grafana["value"][1] == series["value"][1]
    wait_for(
        lambda: rule_health(prometheus, "FailureLikely") == "ok",
        timeout_s=10,
        what="the documented alert rule to be evaluated",
    )

    # The failure manifests: the predictor closes the prediction, its alert resolves, and the
    # series leaves /metrics; Prometheus marks it stale at the next scrape.
    post_logs(http, [line(now + 30 * SECOND, SERVICE, FAILURE_LINE, "ERROR")])
    wait_for(
        lambda: not query(prometheus, "premortem_failure_probability"),
        timeout_s=30,
        what="the series to go away",
    )
    assert query(prometheus, "premortem_expected_lead_seconds") == []
    alerts = http.get("/api/v1/alerts", params={"state": "all"}).json()["items"]
    assert [a["state"] for a in alerts] == ["resolved"]
    http.close()
