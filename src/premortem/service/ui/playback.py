"""Simulations in the UI: the list of stored runs and the Playback page, which plays one run
beside the observed (live or replayed) series of the same service. The page renders the frame;
its script (`static/playback.js`) reads `GET /api/v1/simulations/{id}/playback` and draws."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from premortem.domain import SimulationRun, datetime_to_ns, rfc3339_ns
from premortem.errors import NotFound
from premortem.failures import is_failure_event
from premortem.ports import EventQuery, SimulationQuery, TestRunQuery
from premortem.runtime.assembly import Runtime
from premortem.service.ui.queries import PageInfo
from premortem.service.ui.web import Reader, render, runtime_of, when

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
MAX_ALIGNMENTS = 50
NS = 1_000_000_000


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
        services=runtime.overview.services(),
        service=service or "",
    )


@router.get("/simulations/{simulation_id:path}/playback", response_class=HTMLResponse)
def playback_page(
    request: Request,
    simulation_id: str,
    viewer: Reader,
    service: str | None = None,
    start: str | None = None,
    at: str | None = None,
    metrics: str | None = None,
) -> HTMLResponse:
    runtime = runtime_of(request)
    try:
        run = runtime.pipeline.store.get_simulation(simulation_id)
    except NotFound as exc:
        raise HTTPException(404, f"no simulation with id {simulation_id!r}") from exc
    chosen_start = _checked_start(at) or _checked_start(start)
    chosen = (("service", service), ("start", chosen_start), ("metrics", metrics))
    query = {k: v for k, v in chosen if v}
    source = f"/api/v1/simulations/{quote(simulation_id, safe='')}/playback"
    choices = alignments(runtime, run, service or run.service or None)
    typed = chosen_start if chosen_start not in {c["value"] for c in choices} else ""
    return render(
        request,
        "playback.html",
        viewer=viewer,
        run=summary(run),
        source=source + ("?" + urlencode(query) if query else ""),
        services=runtime.overview.services(),
        service=service or run.service or "",
        start=chosen_start or "",
        alignments=choices,
        typed=typed or "",
    )


def alignments(runtime: Runtime, run: SimulationRun, service: str | None) -> list[dict[str, str]]:
    """Live windows to play the simulation beside, newest first: the service's test runs (the
    simulated start at the run's start) and failures (the simulated first fault, else start, at
    the failure's time, so the simulated cause lines up with the observed effect)."""
    store = runtime.pipeline.store
    runs = store.list_test_runs(TestRunQuery(service=service, limit=MAX_ALIGNMENTS)).items
    found: list[tuple[int, str, str]] = []  # (live time, aligned start, label)
    for stored in runs:
        started = datetime_to_ns(stored.run.timestamp)
        outcome = stored.run.actual_outcome or "no outcome"
        label = f"test run {stored.run.test_id} ({outcome}), started {when(started)} UTC"
        found.append((started, rfc3339_ns(started), label))
    offset_ns = int(_first_fault_s(run) * NS)
    events = store.list_events(EventQuery(service=service, limit=4 * MAX_ALIGNMENTS)).items
    failures = [e for e in events if is_failure_event(e.type)][:MAX_ALIGNMENTS]
    for e in failures:
        label = f"failure {e.type}: {e.subject[:80]} at {when(e.time_ns)} UTC"
        found.append((e.time_ns, rfc3339_ns(e.time_ns - offset_ns), label))
    found.sort(key=lambda item: (-item[0], item[2]))
    return [{"value": value, "label": label} for _, value, label in found]


def _first_fault_s(run: SimulationRun) -> float:
    starts = [
        float(f.get("start_s") or 0)
        for f in run.parameters.get("faults") or []
        if isinstance(f, dict) and isinstance(f.get("start_s", 0), int | float)
    ]
    return min(starts, default=0.0)


def _checked_start(start: str | None) -> str | None:
    """The observed start as typed, if it is a date-time (else the API's default is used)."""
    if not start:
        return None
    try:
        datetime.fromisoformat(start.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return start.strip()
