"""Backtest report: precision, recall, lead-time histogram and false alarms per day for a range,
with the naive baseline beside it, and how calibrated the alerts were (the numbers come from
`premortem.evaluation.history`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from premortem.evaluation.history import BacktestReport, BacktestSource, StoredHistoryBacktest
from premortem.service.ui.web import Reader, count_ticks, label, render, runtime_of, time_range

router = APIRouter(include_in_schema=False)

DEFAULT_RANGE = "7d"  # the page's and GET /api/v1/backtest's window when none is asked for


def source_of(request: Request) -> BacktestSource:
    plugged: BacktestSource | None = getattr(request.app.state, "backtest", None)
    return plugged or StoredHistoryBacktest(runtime_of(request))


def lead_histogram(report: BacktestReport) -> dict[str, Any]:
    """Lead times in seconds, as the tables give them; premortem and the baseline side by side."""
    data = [
        {
            "type": "histogram",
            "name": label(name),
            "x": list(scores.lead_times_s),
            "hovertemplate": "%{x} s: %{y} failure(s)<extra>%{fullData.name}</extra>",
        }
        for name, scores in (
            (report.model_name, report.model),
            (report.baseline_name, report.baseline),
        )
        # A detector without a lead time draws nothing: an empty trace beside a full one made
        # plotly guess a date axis for it and warn in the console (a trial saw it, three times).
        if scores.lead_times_s
    ]
    counts = sum(len(trace["x"]) for trace in data)
    layout = {
        "barmode": "group",
        "bargap": 0.15,
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        "xaxis": {
            "type": "linear",
            "title": {"text": "lead time before onset (s)", "standoff": 8},
            "ticksuffix": " s",
            "automargin": True,
        },
        "yaxis": {
            "title": {"text": "failures", "standoff": 8},
            "automargin": True,
            "rangemode": "tozero",
            **count_ticks(counts),
        },
    }
    return {"data": data, "layout": layout}


def reliability_chart(report: BacktestReport) -> dict[str, Any]:
    """Said vs came true, per bin of the alerts' probability (premortem.evaluation.calibration)."""
    table = report.model.metrics.get("reliability", [])
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "perfectly calibrated",
            "x": [0, 100],
            "y": [0, 100],
            "line": {"dash": "dot", "color": "#888"},
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": label(report.model_name),
            "x": [round(100 * row["mean_p"], 1) for row in table],
            "y": [round(100 * row["observed"], 1) for row in table],
            "text": [f"{row['n']} alert(s)" for row in table],
            "marker": {"size": [8 + 2 * min(row["n"], 10) for row in table]},
        },
    ]
    layout = {
        # Above the plot, as the other charts': below, it covered the x-axis title.
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        "xaxis": {"title": {"text": "probability the alert said (%)"}, "range": [0, 100]},
        "yaxis": {"title": {"text": "alerts followed by the failure (%)"}, "range": [0, 100]},
    }
    return {"data": data, "layout": layout}


def false_alarm_chart(report: BacktestReport) -> dict[str, Any]:
    days = sorted(set(report.model.false_alarms_by_day) | set(report.baseline.false_alarms_by_day))
    data = [
        {
            "type": "bar",
            "name": label(name),
            "x": days,
            "y": [scores.false_alarms_by_day.get(d, 0) for d in days],
        }
        for name, scores in (
            (report.model_name, report.model),
            (report.baseline_name, report.baseline),
        )
    ]
    highest = max(
        (
            n
            for scores in (report.model, report.baseline)
            for n in scores.false_alarms_by_day.values()
        ),
        default=0,
    )
    layout: dict[str, Any] = {
        "barmode": "group",
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        "xaxis": {"type": "category", "title": {"text": "day (UTC)"}},
        # counts: never below zero, whole numbers
        "yaxis": {"title": {"text": "false alarms"}, "rangemode": "tozero"},
    }
    if highest <= 10:
        layout["yaxis"]["dtick"] = 1
    if not days:  # an empty plot read as broken: say why it is empty
        layout["xaxis"]["visible"] = False
        layout["yaxis"]["visible"] = False
        layout["annotations"] = [
            {"text": "no false alarms in this range", "showarrow": False,
             "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}
        ]  # fmt: skip
    return {"data": data, "layout": layout}


@router.get("/backtest", response_class=HTMLResponse)
def backtest(
    request: Request, viewer: Reader, service: str | None = None, range: str | None = None
) -> HTMLResponse:
    window = time_range(request, range, default=DEFAULT_RANGE)
    report = source_of(request).report(
        since_ns=window.since_ns, until_ns=window.until_ns, service=service or None
    )
    return render(
        request,
        "backtest.html",
        viewer=viewer,
        report=report,
        histogram=lead_histogram(report),
        false_alarms=false_alarm_chart(report),
        reliability=reliability_chart(report),
        services=runtime_of(request).overview.services(),
        service=service or "",
        window=window,
    )
