"""Predictive Analysis (the home page): what is predicted now, ranked, and a timeline of
predictions, alerts and failures. `/ui/data/home` serves the same content as JSON for live refresh.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from premortem.alerting.model import Alert, AlertQuery
from premortem.domain import FailureMode, Prediction, rfc3339_ns
from premortem.failures import is_failure_event
from premortem.ports import EventQuery, TestRunQuery
from premortem.runtime.assembly import Runtime
from premortem.service.ui.alerts_access import Alerts, alerts_of
from premortem.service.ui.timerange import TimeRange
from premortem.service.ui.web import (
    Reader,
    duration,
    label,
    render,
    runtime_of,
    sparkline_points,
    time_range,
)

router = APIRouter(include_in_schema=False)

SEVERITY_WEIGHT = {"info": 0.5, "warning": 1.0, "error": 1.5, "critical": 2.0, "page": 2.0}
TREND_POINTS = 30
TIMELINE_MODES = 8
LIVE_MS = 5000


def risk(probability: float, severity: str) -> float:
    """Rank key: probability weighted by how bad the failure is (critical counts double)."""
    return probability * SEVERITY_WEIGHT.get(severity.lower(), 1.0)


def _iso(ns: int) -> str:
    return rfc3339_ns(ns)


def _lead_time(prediction: Prediction, mode: FailureMode | None) -> float | None:
    if prediction.lead_time_s is not None:
        return prediction.lead_time_s
    samples = mode.expected_lead_times_s(prediction.fired_template_ids) if mode else []
    return float(statistics.median(samples)) if samples else None


def _row(
    prediction: Prediction,
    mode: FailureMode | None,
    history: list[tuple[int, float]],
    alert: Alert | None,
) -> dict[str, Any]:
    severity = mode.severity if mode else "warning"
    trend = [p for _, p in history[-TREND_POINTS:]] or [prediction.probability]
    mitigation = mode.mitigations[0].action if mode and mode.mitigations else "none recorded"
    if alert is not None:
        evidence_url, evidence_text = f"/alerts/{alert.id}", "alert evidence"
    else:
        evidence_url, evidence_text = f"/modes/{prediction.mode_id}#evidence", "mode evidence"
    return {
        "mode_id": prediction.mode_id,
        "mode_name": mode.name if mode else prediction.mode_id,
        "mode_url": f"/modes/{prediction.mode_id}",
        "severity": severity,
        "severity_class": severity.lower() if severity.lower() in SEVERITY_WEIGHT else "warning",
        "probability": prediction.probability,
        "probability_text": f"{prediction.probability * 100:.0f}%",
        "risk": risk(prediction.probability, severity),
        "trend": trend,
        "trend_points": sparkline_points(trend),
        "lead_time": duration(_lead_time(prediction, mode)),
        "service": prediction.service or (mode.service if mode else "") or "—",
        "mitigation": mitigation,
        "evidence_url": evidence_url,
        "evidence_text": evidence_text,
        "alert_id": alert.id if alert else None,
        "predicted_at": _iso(prediction.time_ns),
    }


def predictive_analysis(
    runtime: Runtime, alerts: Alerts, *, service: str | None, window: TimeRange
) -> dict[str, Any]:
    # A mode whose latest word closed its prediction (evidence expired, the failure came) is no
    # longer predicted: listed at 0 % it read as predicted beside "Nothing is predicted".
    current = [p for p in runtime.predictions.latest_per_mode(service=service) if not p.closing]
    firing = alerts.firing_by_mode(service=service)
    modes = {m.id: m for m in runtime.modes.all_modes()}
    histories = runtime.predictions.probability_points(
        [p.mode_id for p in current],
        since_ns=window.since_ns,
        until_ns=window.until_ns,
        service=service,
    )
    rows = [
        _row(p, modes.get(p.mode_id), histories[p.mode_id], firing.get(p.mode_id)) for p in current
    ]
    rows.sort(key=lambda r: (-r["risk"], -r["probability"], r["mode_name"]))
    timeline = _timeline(runtime, alerts, rows, histories, service=service, window=window)
    threshold = runtime.alert_threshold()
    lag = runtime.pipeline.lag()
    return {
        "ranking": rows,
        "analysis_lag": {
            "records": lag.records,
            "seconds": round(lag.seconds, 1),
            "text": f"analysis {lag.records:,} records / {lag.seconds:.1f} s behind",
        },
        "threshold": {
            "value": threshold.value,
            "text": _threshold_text(threshold.value, threshold.by_mode),
            "source": threshold.source,
        },
        "timeline": timeline,
        "firing": [a.to_json() for a in firing.values()],
        "updated": datetime.now(UTC).strftime("%H:%M:%S UTC"),
    }


def _timeline(
    runtime: Runtime,
    alerts: Alerts,
    rows: list[dict[str, Any]],
    histories: dict[str, list[tuple[int, float]]],
    *,
    service: str | None,
    window: TimeRange,
) -> dict[str, Any]:
    data: list[dict[str, Any]] = []
    for row in rows[:TIMELINE_MODES]:
        points = histories[row["mode_id"]]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": label(row["mode_name"]),
                "x": [_iso(time_ns) for time_ns, _ in points],
                "y": [probability for _, probability in points],
                "marker": {"size": 4},
            }
        )
    page = alerts.list_alerts(
        AlertQuery(service=service, since_ns=window.since_ns, until_ns=window.until_ns, limit=200)
    )
    data.append(
        {
            "type": "scatter",
            "mode": "markers",
            "name": "alerts",
            "x": [_iso(a.started_ns) for a in page.items],
            "y": [a.probability for a in page.items],
            "text": [
                label(f"alert: {a.labels.get('failure_mode', a.mode_id)}") for a in page.items
            ],
            "marker": {"symbol": "diamond", "size": 11, "color": "#b3261e"},
        }
    )
    failures = _failures(runtime, service=service, window=window)
    data.append(
        {
            "type": "scatter",
            "mode": "markers",
            "name": "failures",
            "x": [f[0] for f in failures],
            "y": [1.05] * len(failures),
            "text": [label(f[1]) for f in failures],
            "marker": {"symbol": "x", "size": 10, "color": "#222"},
        }
    )
    layout = {
        "xaxis": {"type": "date", "range": [_iso(window.since_ns), _iso(window.until_ns)]},
        "yaxis": {"title": {"text": "probability"}, "range": [0, 1.12], "tickformat": ".0%"},
        "hovermode": "closest",
    }
    return {"data": data, "layout": layout}


def _failures(runtime: Runtime, *, service: str | None, window: TimeRange) -> list[tuple[str, str]]:
    store = runtime.pipeline.store
    runs = store.list_test_runs(
        TestRunQuery(
            outcome="fail",
            service=service,
            since_ns=window.since_ns,
            until_ns=window.until_ns,
            limit=200,
        )
    ).items
    found = [(s.run.onset.isoformat(), f"failed test run {s.run.test_id}") for s in runs]
    events = store.list_events(
        EventQuery(service=service, since_ns=window.since_ns, until_ns=window.until_ns, limit=500)
    ).items
    found += [
        (_iso(e.time_ns), f"{e.type}: {e.subject}") for e in events if is_failure_event(e.type)
    ]
    return found


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request, viewer: Reader, service: str | None = None, range: str | None = None
) -> HTMLResponse:
    runtime = runtime_of(request)
    window = time_range(request, range)
    content = predictive_analysis(runtime, alerts_of(request), service=service, window=window)
    return render(
        request,
        "home.html",
        viewer=viewer,
        services=runtime.overview.services(),
        service=service or "",
        window=window,
        live_ms=LIVE_MS,
        **content,
    )


@router.get("/ui/data/home")
def home_data(
    request: Request, _viewer: Reader, service: str | None = None, range: str | None = None
) -> dict[str, Any]:
    """The home page's content as JSON (the page's script polls it)."""
    window = time_range(request, range)
    return predictive_analysis(
        runtime_of(request), alerts_of(request), service=service or None, window=window
    )


def _threshold_text(lowest: float, by_mode: dict[str, float]) -> str:
    """ "35%", or "35–60% (per mode)" when modes learned thresholds of their own."""
    highest = max(by_mode.values(), default=lowest)
    if highest <= lowest:
        return f"{lowest * 100:.0f}%"
    return f"{lowest * 100:.0f}–{highest * 100:.0f}% (per mode)"
