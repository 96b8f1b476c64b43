"""Failure modes: list and detail (manifestation, triggers with statistics and a lead-time
histogram, mitigations, evidence, version history), and the pages that read them.
Editing lives in `mode_forms.py`."""

from __future__ import annotations

import statistics
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from premortem.domain import FailureMode
from premortem.errors import NotFound
from premortem.evaluation import percentile
from premortem.ports import LogQuery
from premortem.runtime.assembly import Runtime
from premortem.service.ui.queries import PageInfo
from premortem.service.ui.web import Reader, count_ticks, label, render, runtime_of

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
MAX_EXCERPTS = 50
NOTICES = {
    "created": "Failure mode created.",
    "saved": "Changes saved as a new version.",
    "deleted": "Removed.",
}


def mode_or_404(runtime: Runtime, mode_id: str) -> FailureMode:
    try:
        return runtime.modes.get_mode(mode_id)
    except NotFound as exc:
        raise HTTPException(404, f"no failure mode with id {mode_id!r}") from exc


@router.get("/modes", response_class=HTMLResponse)
def mode_list(
    request: Request,
    viewer: Reader,
    service: str | None = None,
    source: str | None = None,
    offset: int = 0,
) -> HTMLResponse:
    runtime = runtime_of(request)
    chosen_source = source if source in ("learned", "manual") else None
    page = runtime.modes.list_modes(
        service=service or None, source=chosen_source, limit=PAGE_SIZE, offset=max(0, offset)
    )
    current = {p.mode_id: p for p in runtime.predictions.latest_per_mode()}
    return render(
        request,
        "modes.html",
        viewer=viewer,
        modes=page.items,
        current=current,
        page=PageInfo(page.total, max(0, offset), PAGE_SIZE, len(page.items)),
        service=service or "",
        source=chosen_source or "",
        services=runtime.overview.services(),
    )


def trigger_stats(mode: FailureMode) -> list[dict[str, Any]]:
    rows = []
    for index, trigger in enumerate(mode.triggers):
        leads = sorted(trigger.lead_times_s)
        rows.append(
            {
                "index": index,
                "trigger": trigger,
                "observations": len(leads),
                "median": statistics.median(leads) if leads else None,
                "p10": percentile(leads, 10),
                "p90": percentile(leads, 90),
            }
        )
    return rows


LEGEND_ROW_PX = 20


def lead_time_histogram(mode: FailureMode) -> dict[str, Any]:
    """Lead times in seconds (as the tables give them), one bar group per trigger side by side;
    the legend above the plot, where it cannot cover an axis title, with a row of room for
    each trigger (a trigger's name is long: a row each; five of them covered a small plot)."""
    data = [
        {
            "type": "histogram",
            "name": label(trigger.description[:60] or trigger.kind.value),
            "x": list(trigger.lead_times_s),
            "hovertemplate": "%{x} s: %{y} observation(s)<extra>%{fullData.name}</extra>",
        }
        for trigger in mode.triggers
        if trigger.lead_times_s
    ]
    layout = {
        "barmode": "group",
        "bargap": 0.15,
        "margin": {"t": 12 + LEGEND_ROW_PX * min(len(data), 8), "l": 64, "b": 56},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        "xaxis": {
            "title": {"text": "lead time before onset (s)", "standoff": 8},
            "ticksuffix": " s",
            "automargin": True,
        },
        "yaxis": {
            "title": {"text": "failures", "standoff": 4},
            "automargin": True,
            "rangemode": "tozero",
            **count_ticks(max((len(trace["x"]) for trace in data), default=0)),
        },
    }
    return {"data": data, "layout": layout}


def probability_history(runtime: Runtime, mode: FailureMode) -> dict[str, Any]:
    points = list(reversed(runtime.predictions.list_predictions(mode_id=mode.id, limit=500).items))
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "probability",
            "x": [_iso(p.time_ns) for p in points],
            "y": [p.probability for p in points],
            # a probability holds until the next prediction: steps, not ramps between them
            "line": {"shape": "hv"},
        }
    ]
    layout = {"yaxis": {"range": [0, 1], "tickformat": ".0%"}, "showlegend": False}
    return {"data": data, "layout": layout, "empty": not points}


def _iso(ns: int) -> str:
    from premortem.domain import rfc3339_ns

    return rfc3339_ns(ns)


def evidence_runs(runtime: Runtime, mode: FailureMode) -> list[dict[str, Any]]:
    """The cited test runs with their outcome (a run that is no longer stored is still listed)."""
    runs = []
    for run_id in mode.evidence.test_runs[:50]:
        try:
            run = runtime.pipeline.store.get_test_run(run_id).run
        except NotFound:
            runs.append({"id": run_id, "stored": False})
            continue
        runs.append(
            {
                "id": run_id,
                "stored": True,
                "outcome": run.outcome,
                "when": run.timestamp,
                "faults": run.fault_types,
            }
        )
    return runs


def excerpt_times(runtime: Runtime, mode: FailureMode) -> dict[str, int]:
    """When each training excerpt was logged (the stored record it names), by record id."""
    ids = tuple(str(x["record_id"]) for x in mode.evidence.log_excerpts if x.get("record_id"))[
        :MAX_EXCERPTS
    ]
    if not ids:
        return {}
    found = runtime.pipeline.store.list_logs(LogQuery(ids=ids, limit=MAX_EXCERPTS)).items
    return {r.id: r.time_ns for r in found}


@router.get("/modes/{mode_id}", response_class=HTMLResponse)
def mode_detail(
    request: Request, mode_id: str, viewer: Reader, notice: str | None = None
) -> HTMLResponse:
    runtime = runtime_of(request)
    mode = mode_or_404(runtime, mode_id)
    return render(
        request,
        "mode_detail.html",
        viewer=viewer,
        mode=mode,
        triggers=trigger_stats(mode),
        histogram=lead_time_histogram(mode),
        history=probability_history(runtime, mode),
        runs=evidence_runs(runtime, mode),
        excerpt_times=excerpt_times(runtime, mode),
        versions=runtime.modes.versions(mode_id)[:30],
        notice=NOTICES.get(notice or ""),
        signals=model_signals(runtime, mode_id),
    )


def model_signals(runtime: Runtime, mode_id: str) -> list[dict[str, Any]]:
    """The metric series and warning-line levels the latest model watches for this mode (its
    training summary's `signals`): precursors that are no trigger of the mode's document."""
    newest = runtime.models.history(limit=1)  # the summary, without the model itself
    signals = (newest[0].summary or {}).get("signals", {}) if newest else {}
    found = signals.get(mode_id, []) if isinstance(signals, dict) else []
    return [s for s in found if isinstance(s, dict)]
