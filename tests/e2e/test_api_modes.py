"""The failure-mode database API: create, read, edit, version history, delete."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from premortem.domain import Prediction

pytestmark = pytest.mark.e2e

MODE = {
    "name": "DB connection pool exhaustion",
    "description": "requests wait for a connection until they time out",
    "severity": "critical",
    "service": "checkout",
    "triggers": [
        {
            "kind": "load_condition",
            "description": "request_rate > 400/s",
            "condition": {"parameter": "request_rate", "op": ">", "value": 400},
        }
    ],
    "mitigations": [
        {
            "action": "raise the pool size or shed load",
            "runbook_url": "https://runbooks.example/pool",
        }
    ],
}


def test_failure_mode_crud_and_history(client: TestClient) -> None:
    created = client.post("/api/v1/failure-modes", json=MODE)
    assert created.status_code == 201, created.text
    mode = created.json()
    assert mode["source"] == "manual" and mode["version"] == 1
    assert mode["triggers"][0]["source"] == "manual"
    assert client.post("/api/v1/failure-modes", json=MODE).status_code == 409

    listed = client.get("/api/v1/failure-modes").json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == mode["id"]

    patched = client.patch(f"/api/v1/failure-modes/{mode['id']}", json={"severity": "warning"})
    assert patched.status_code == 200 and patched.json()["version"] == 2
    assert patched.json()["manual_fields"] == ["severity"]
    versions = client.get(f"/api/v1/failure-modes/{mode['id']}/versions").json()
    assert [v["version"] for v in versions["items"]] == [2, 1]

    bad = client.patch(f"/api/v1/failure-modes/{mode['id']}", json={"severity": "apocalyptic"})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert "/severity" in bad.text

    assert client.delete(f"/api/v1/failure-modes/{mode['id']}").status_code == 204
    missing = client.get(f"/api/v1/failure-modes/{mode['id']}")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_predictions_list_is_empty_before_training(client: TestClient) -> None:
    assert client.get("/api/v1/predictions").json() == {"items": [], "total": 0}
    assert client.get("/api/v1/predictions", params={"current": True}).json()["total"] == 0


def test_the_mode_page_shows_json_values_as_text_a_reader_can_read(client: TestClient) -> None:
    """A trial's mode page showed its failure lines as `["report 1 failed: \\u003curlopen …"]`:
    the script-safe `tojson` escapes, shown as text. Text JSON, escaped as HTML, reads right."""
    line = "report 2604 failed: <urlopen error [Errno 24] Too many open files>"
    mode = {**MODE, "name": "fd exhaustion", "manifestation": {"failure_lines": [line]}}
    created = client.post("/api/v1/failure-modes", json=mode)
    assert created.status_code == 201, created.text
    page = client.get(f"/modes/{created.json()['id']}").text
    assert "&lt;urlopen error [Errno 24] Too many open files&gt;" in page
    assert "\\u003c" not in page and "<urlopen" not in page
    # a list of lines reads as a list (a trial read `["…"]` as raw JSON), under a readable name
    assert "<dt>Failure lines</dt>" in page
    assert "<li><code>report 2604 failed: &lt;urlopen error" in page
    assert '["report' not in page


def test_a_mode_whose_prediction_closed_is_not_listed_as_predicted_now(
    client: TestClient,
) -> None:
    """A trial's home page listed a mode at 0 % under "Failure modes predicted now", beside
    "Nothing is predicted right now": its latest prediction was the one that closed it."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    now = time.time_ns()
    opened = [
        Prediction(id=f"p-{mode}", time_ns=now - 2_000_000_000, mode_id=mode, service="api",
                   probability=0.9, horizon_s=300, evidence={"indicators": ["tpl:1"]})
        for mode in ("fm-open", "fm-closed")
    ]  # fmt: skip
    closed = Prediction(id="p-close", time_ns=now - 1_000_000_000, mode_id="fm-closed",
                        service="api", probability=0.0, horizon_s=300,
                        evidence={"closes": "evidence expired"})  # fmt: skip
    runtime.predictions.add_predictions([*opened, closed])
    page = client.get("/").text
    assert 'href="/modes/fm-open"' in page
    assert 'href="/modes/fm-closed"' not in page.split('id="predicted-now"')[1].split("</table>")[0]
