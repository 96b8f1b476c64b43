"""Logs and patterns: the live templates with their rates and anomalies, and a log search."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from premortem.domain import Template, rfc3339_ns
from premortem.ingest.severity import severity_number
from premortem.ports import LogQuery
from premortem.service.ui.queries import PageInfo
from premortem.service.ui.web import Reader, label, render, runtime_of, time_range

router = APIRouter(include_in_schema=False)

TEMPLATES_PER_PAGE = 25
CHARTED_TEMPLATES = 8
LOGS_PER_PAGE = 50
BUCKETS = 48
LEVELS = ("", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


def _rate_points(counts: list[int]) -> list[float]:
    peak = max(counts) if counts else 0
    return [c / peak for c in counts] if peak else [0.0 for _ in counts]


@router.get("/logs", response_class=HTMLResponse)
def patterns(
    request: Request,
    viewer: Reader,
    service: str | None = None,
    range: str | None = None,
    q: str | None = None,
    offset: int = 0,
) -> HTMLResponse:
    runtime = runtime_of(request)
    window = time_range(request, range)
    offset = max(0, offset)
    shown, total = runtime.templates.busiest(
        service=service, text=q, limit=TEMPLATES_PER_PAGE, offset=offset
    )
    rates = runtime.overview.template_rates(
        [t.id for t in shown],
        since_ns=window.since_ns,
        until_ns=window.until_ns,
        buckets=BUCKETS,
    )
    anomalies = runtime.anomalies.list_anomalies(
        service=service or None, since_ns=window.since_ns, until_ns=window.until_ns, limit=50
    )
    rates_chart = _rate_chart(shown[:CHARTED_TEMPLATES], rates, window.since_ns, window.until_ns)
    _mark_anomalies(rates_chart, anomalies.items)
    texts = runtime.templates.texts(
        [a.template_id for a in anomalies.items if a.template_id is not None]
    )
    return render(
        request,
        "logs.html",
        viewer=viewer,
        templates=shown,
        rates={tid: _rate_points(c) for tid, c in rates.items()},
        in_range={tid: sum(c) for tid, c in rates.items()},
        rates_chart=rates_chart,  # not `chart`: the template imports a macro of that name
        anomalies=[(a, readable_summary(a.summary, a.template_id, texts)) for a in anomalies.items],
        template_texts=texts,
        anomaly_total=anomalies.total,
        page=PageInfo(total, offset, TEMPLATES_PER_PAGE, len(shown)),
        services=runtime.overview.services(),
        service=service or "",
        q=q or "",
        window=window,
    )


def readable_summary(summary: str, template_id: int | None, texts: dict[int, str]) -> str:
    """An anomaly's summary naming its template by text ("Rate burst of “pool low: <*> idle” in
    shop-api"), not by number; the number stays when the text is unknown."""
    text = texts.get(template_id) if template_id is not None else None
    if text is None:
        return summary
    shown = text if len(text) <= 100 else text[:99] + "…"
    return summary.replace(f"template {template_id}", f"“{shown}”", 1)


def _rate_chart(
    shown: list[Template], rates: dict[int, list[int]], since_ns: int, until_ns: int
) -> dict[str, Any]:
    width = max(1, (until_ns - since_ns) // BUCKETS)
    x = [rfc3339_ns(since_ns + i * width) for i in range(BUCKETS)]
    per_minute = 60e9 / width
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": label(f"#{t.id} {t.template[:50]}"),
            "x": x,
            "y": [round(c * per_minute, 3) for c in rates.get(t.id, [])],
        }
        for t in shown
    ]
    layout = {
        "yaxis": {"title": {"text": "lines per minute"}, "rangemode": "tozero"},
        "xaxis": {"type": "date", "title": {"text": "time (UTC)"}},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        "margin": {"t": 60, "b": 50},
    }
    return {"data": data, "layout": layout}


def _mark_anomalies(chart: dict[str, Any], anomalies: list[Any]) -> None:
    if not anomalies:
        return
    chart["data"].append(
        {
            "type": "scatter",
            "mode": "markers",
            "name": "anomalies",
            "x": [rfc3339_ns(a.time_ns) for a in anomalies],
            "y": [0 for _ in anomalies],
            "text": [label(f"{a.detector}: {a.summary[:80]}") for a in anomalies],
            "marker": {"symbol": "triangle-up", "size": 11, "color": "#b3261e"},
        }
    )


@router.get("/logs/search", response_class=HTMLResponse)
def search(
    request: Request,
    viewer: Reader,
    service: str | None = None,
    range: str | None = None,
    q: str | None = None,
    template_id: int | None = None,
    level: str | None = None,
    offset: int = 0,
) -> HTMLResponse:
    runtime = runtime_of(request)
    window = time_range(request, range, default="30d" if template_id is not None else "24h")
    chosen_level = level if level in LEVELS else ""
    query = LogQuery(
        service=service or None,
        since_ns=window.since_ns,
        until_ns=window.until_ns,
        text=q or None,
        template_id=template_id,
        min_severity=severity_number(chosen_level) if chosen_level else None,
        limit=LOGS_PER_PAGE,
        offset=max(0, offset),
    )
    page = runtime.pipeline.store.list_logs(query)
    template = runtime.template(template_id) if template_id is not None else None
    return render(
        request,
        "log_search.html",
        viewer=viewer,
        records=page.items,
        page=PageInfo(page.total, query.offset, LOGS_PER_PAGE, len(page.items)),
        services=runtime.overview.services(),
        service=service or "",
        q=q or "",
        level=chosen_level,
        levels=LEVELS,
        template=template,
        template_id=template_id,
        window=window,
    )
