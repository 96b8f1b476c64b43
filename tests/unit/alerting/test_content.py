from __future__ import annotations

from premortem.alerting.content import (
    build_content,
    escape_text,
    lead_time_summary,
    render_html,
    render_text,
)
from premortem.alerting.model import ALERTNAME, Alert, AlertState, Matcher
from premortem.domain import FailureMode, Prediction

EVIL = '<script>alert("x")</script>\x1b[31mred\nforged line'


def prediction(**evidence: object) -> Prediction:
    return Prediction(
        id="p",
        time_ns=1,
        mode_id="db_pool",
        service="checkout",
        probability=0.8,
        horizon_s=600,
        evidence=dict(evidence),
    )


def test_lead_time_is_median_and_range_of_trigger_history(pool_mode: FailureMode) -> None:
    # The load condition's 900 s is not something a live stream shows (test_lead_time.py).
    assert lead_time_summary(pool_mode, prediction()) == {
        "median_s": 450.0,
        "min_s": 300.0,
        "max_s": 600.0,
        "observations": 2,
    }


def test_lead_time_falls_back_to_the_prediction() -> None:
    p = prediction().model_copy(update={"lead_time_s": 120.0})
    assert lead_time_summary(None, p) == {
        "median_s": 120.0,
        "min_s": 120.0,
        "max_s": 120.0,
        "observations": 1,
    }
    assert lead_time_summary(None, prediction()) is None


def test_evidence_bundle_keeps_raw_lines_and_all_kinds(pool_mode: FailureMode) -> None:
    doc = build_content(
        prediction(
            templates=[{"template_id": 3, "template": "acquire <*>", "samples": [EVIL]}],
            events=[{"time_ns": 1, "type": "deploy", "subject": "checkout v2"}],
            test_runs=["chaos-17", {"id": "chaos-18"}],
            simulations=["sim-1"],
            environment="prod",
            detector="hst",
        ),
        pool_mode,
        severity="warning",
        dashboard_url="https://x/alerts/1",
    )
    evidence = doc["evidence"]
    assert evidence["templates"][0]["samples"] == [EVIL]
    assert evidence["events"][0]["type"] == "deploy"
    assert evidence["test_runs"] == ["chaos-17", "chaos-18"]
    assert evidence["simulations"] == ["sim-1"]
    assert evidence["other"] == {"detector": "hst"}
    assert [m["action"] for m in doc["mitigations"]] == ["Raise pool size to 50", "Shed batch jobs"]


def test_renderers_escape_log_lines(pool_mode: FailureMode) -> None:
    doc = build_content(
        prediction(templates=[{"template": "t", "samples": [EVIL]}]),
        pool_mode,
        severity="warning",
        dashboard_url='https://x/alerts/1"><script>',
    )
    alert = Alert(
        id="1",
        fingerprint="f",
        labels={"alertname": ALERTNAME, "service": "checkout"},
        state=AlertState.FIRING,
        probability=0.8,
        started_ns=1,
        updated_ns=1,
        last_seen_ns=1,
        horizon_s=600,
        doc=doc,
    )
    text = render_text(alert.to_json())
    assert "\x1b" not in text and "forged line" in text
    assert all(not line.startswith("forged") for line in text.splitlines())
    page = render_html(alert.to_json())
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_escape_text_caps_length() -> None:
    assert len(escape_text("x" * 10_000)) == 500


def test_matcher_regex_is_anchored() -> None:
    assert Matcher("service", "check", is_regex=True).matches({"service": "check"})
    assert not Matcher("service", "check", is_regex=True).matches({"service": "checkout"})
    assert Matcher("env", "").matches({}), "a missing label reads as empty"
