"""Schedules: simulations, test commands and training run continuously or on cron."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool

from premortem.domain import rfc3339_ns
from premortem.runtime.assembly import Runtime
from premortem.runtime.scheduler import Schedule, ScheduleRun
from premortem.service.deps import CanAdmin, CanRead

router = APIRouter(prefix="/api/v1", tags=["schedules"])


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def run_json(run: ScheduleRun) -> dict[str, Any]:
    return {
        **run.model_dump(exclude={"started_ns", "finished_ns"}),
        "started_at": rfc3339_ns(run.started_ns),
        "finished_at": rfc3339_ns(run.finished_ns) if run.finished_ns else None,
    }


def _permitted(runtime: Runtime, schedule: Schedule) -> Schedule:
    """A command schedule this server may not run is refused (403), never stored or started."""
    refusal = runtime.scheduler.commands.refusal(schedule)
    if refusal is not None:
        raise HTTPException(403, refusal)
    return schedule


@router.post("/schedules", status_code=201, dependencies=[CanAdmin])
def put_schedule(request: Request, schedule: Schedule) -> dict[str, Any]:
    """Create (or replace, by name) a schedule; it runs from the scheduler's next pass.

    Command schedules need `PREMORTEM_ALLOW_COMMAND_SCHEDULES` (their executable on it) and API
    tokens; otherwise 403."""
    runtime = _runtime(request)
    return runtime.schedules.put_schedule(_permitted(runtime, schedule)).model_dump(mode="json")


@router.get("/schedules", dependencies=[CanRead])
def list_schedules(request: Request) -> dict[str, Any]:
    runtime = _runtime(request)
    items = []
    for schedule in runtime.schedules.list_schedules():
        last = runtime.schedules.last_run(schedule.id)
        items.append(
            {**schedule.model_dump(mode="json"), "last_run": run_json(last) if last else None}
        )
    return {"items": items, "total": len(items)}


@router.get("/schedules/{schedule_id}", dependencies=[CanRead])
def get_schedule(request: Request, schedule_id: str) -> dict[str, Any]:
    runtime = _runtime(request)
    schedule = runtime.schedules.get_schedule(schedule_id)
    runs = [run_json(r) for r in runtime.schedules.runs(schedule_id)]
    return {**schedule.model_dump(mode="json"), "runs": runs}


@router.post("/schedules/{schedule_id}/run", dependencies=[CanAdmin])
async def run_schedule_now(request: Request, schedule_id: str) -> dict[str, Any]:
    """Run the schedule once, now, and answer with the run's outcome."""
    runtime = _runtime(request)
    schedule = _permitted(runtime, runtime.schedules.get_schedule(schedule_id))
    return run_json(await run_in_threadpool(runtime.scheduler.run_now, schedule))


@router.delete("/schedules/{schedule_id}", status_code=204, dependencies=[CanAdmin])
def delete_schedule(request: Request, schedule_id: str) -> Response:
    _runtime(request).schedules.delete_schedule(schedule_id)
    return Response(status_code=204)
