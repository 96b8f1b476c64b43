"""Simulations in the UI: the list of stored runs and the Playback page, which plays one run
beside the observed (live or replayed) series of the same service. The page renders the frame;
its script (`static/playback.js`) reads `GET /api/v1/simulations/{id}/playback` and draws."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from premortem.domain import SimulationRun
from premortem.errors import NotFound
from premortem.ports import SimulationQuery
from premortem.service.ui.queries import PageInfo, services
from premortem.service.ui.web import Reader, render, runtime_of

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


def summary(run: SimulationRun) -> dict[str, Any]:
    """What a row of the list shows: the run without its series."""
    params = {k: v for k, v in run.parameters.items() if k != "faults"}
    return {
        "id": run.simulation_id,
        "model": run.model,
        "service": run.service or "",
        "started_at": run.started_at,
        "duration_s": run.duration_s,
        "source": run.source,
        "events": len(run.events),
        "event_types": sorted({e.type for e in run.events}),
        "params": ", ".join(f"{k}={v}" for k, v in params.items()),
        "faults": [
            _fault_text(f) for f in run.parameters.get("faults") or [] if isinstance(f, dict)
        ],
    }


def _fault_text(fault: dict[str, Any]) -> str:
    text = f"{fault.get('type', '?')}@{fault.get('start_s', 0)}s"
    if fault.get("duration_s") is not None:
        text += f"+{fault['duration_s']}s"
    return text + (f"={fault['value']}" if fault.get("value") is not None else "")


@router.get("/simulations", response_class=HTMLResponse)
def simulation_list(
    request: Request, viewer: Reader, service: str | None = None, offset: int = 0
) -> HTMLResponse:
    runtime = runtime_of(request)
    query = SimulationQuery(service=service or None, limit=PAGE_SIZE, offset=max(0, offset))
    page = runtime.pipeline.store.list_simulations(query)
    return render(
        request,
        "simulations.html",
        viewer=viewer,
        runs=[summary(run) for run in page.items],
        page=PageInfo(page.total, query.offset, PAGE_SIZE, len(page.items)),
        services=services(runtime.engine),
        service=service or "",
    )


@router.get("/simulations/{simulation_id}/playback", response_class=HTMLResponse)
def playback_page(
    request: Request,
    simulation_id: str,
    viewer: Reader,
    service: str | None = None,
    start: str | None = None,
) -> HTMLResponse:
    runtime = runtime_of(request)
    try:
        run = runtime.pipeline.store.get_simulation(simulation_id)
    except NotFound as exc:
        raise HTTPException(404, f"no simulation with id {simulation_id!r}") from exc
    chosen_start = _checked_start(start)
    query = {k: v for k, v in (("service", service), ("start", chosen_start)) if v}
    source = f"/api/v1/simulations/{simulation_id}/playback"
    return render(
        request,
        "playback.html",
        viewer=viewer,
        run=summary(run),
        source=source + ("?" + urlencode(query) if query else ""),
        services=services(runtime.engine),
        service=service or run.service or "",
        start=chosen_start or "",
    )


def _checked_start(start: str | None) -> str | None:
    """The observed start as typed, if it is a date-time (else the API's default is used)."""
    if not start:
        return None
    try:
        datetime.fromisoformat(start.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return start.strip()
