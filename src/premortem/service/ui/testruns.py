"""Test runs: chaos and synthetic runs with their parameters, injected faults on a timeline, the
outcome and failure details, and the failure modes each one reproduced."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from premortem.domain import InjectedFault, TestRun, outcome_text
from premortem.errors import NotFound
from premortem.ports import TestRunQuery
from premortem.service.ui.queries import PageInfo, modes_reproduced_by
from premortem.service.ui.web import Reader, label, render, runtime_of

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600}


def seconds_of(value: int | float | str | None) -> float | None:
    """A fault duration as seconds: numbers are seconds; strings like "30s", "2m", "500ms"."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    match = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s|m|min|h)?\s*", value)
    if not match:
        return None
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def fault_start(run: TestRun, fault: InjectedFault) -> datetime:
    if isinstance(fault.start, datetime):
        return fault.start
    return run.timestamp + timedelta(seconds=float(fault.start or 0))


def fault_timeline(run: TestRun) -> dict[str, Any]:
    """Faults as bars from their start for their duration, the failure as a vertical line."""
    data: list[dict[str, Any]] = []
    for index, fault in enumerate(run.injected_faults):
        start = fault_start(run, fault)
        length = seconds_of(fault.duration) or 1.0
        name = f"{fault.type} → {fault.target or fault.process or ''}".strip(" →")
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "base": [start.isoformat()],
                "x": [length * 1000],
                "y": [label(f"{index + 1}. {name}")],
                "name": label(name),
                "hovertext": [label(f"{fault.type} {fault.value or ''}{fault.unit or ''}")],
            }
        )
    shapes = []
    if run.failure_time is not None:
        stamp = run.failure_time.isoformat()
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": stamp,
                "x1": stamp,
                "y0": 0,
                "y1": 1,
                "line": {"color": "#b3261e", "width": 2, "dash": "dot"},
            }
        )
    layout = {
        "xaxis": {"type": "date"},
        "yaxis": {"automargin": True, "autorange": "reversed"},
        "shapes": shapes,
        "showlegend": False,
        "barmode": "overlay",
    }
    return {"data": data, "layout": layout}


@router.get("/test-runs", response_class=HTMLResponse)
def run_list(
    request: Request,
    viewer: Reader,
    outcome: str | None = None,
    service: str | None = None,
    fault_type: str | None = None,
    offset: int = 0,
) -> HTMLResponse:
    runtime = runtime_of(request)
    query = TestRunQuery(
        outcome=outcome if outcome in ("pass", "fail") else None,
        service=service or None,
        fault_type=fault_type or None,
        limit=PAGE_SIZE,
        offset=max(0, offset),
    )
    page = runtime.pipeline.store.list_test_runs(query)
    return render(
        request,
        "testruns.html",
        viewer=viewer,
        runs=[s.run for s in page.items],
        reproduced=modes_reproduced_by(runtime.modes.all_modes()),
        page=PageInfo(page.total, query.offset, PAGE_SIZE, len(page.items)),
        services=runtime.overview.services(),
        outcome=query.outcome or "",
        service=service or "",
        fault_type=fault_type or "",
    )


@router.get("/test-runs/{test_id:path}", response_class=HTMLResponse)
def run_detail(request: Request, test_id: str, viewer: Reader) -> HTMLResponse:
    runtime = runtime_of(request)
    try:
        stored = runtime.pipeline.store.get_test_run(test_id)
    except NotFound as exc:
        raise HTTPException(404, f"no test run with id {test_id!r}") from exc
    run = stored.run
    modes = modes_reproduced_by(runtime.modes.all_modes()).get(test_id, [])
    faults = [
        {
            "fault": f,
            "start": fault_start(run, f),
            "duration": seconds_of(f.duration),
            "extra": f.model_extra or {},
        }
        for f in run.injected_faults
    ]
    return render(
        request,
        "testrun_detail.html",
        viewer=viewer,
        run=run,
        faults=faults,
        timeline=fault_timeline(run),
        modes=modes,
        expected=outcome_text(run.expected_outcome),
        actual=outcome_text(run.actual_outcome),
        details=outcome_text(run.failure_details),
        extra={k: v for k, v in (run.model_extra or {}).items()},
    )
