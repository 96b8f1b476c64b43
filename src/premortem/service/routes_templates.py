"""Log templates as mined live: counts, first/last seen, samples and parameters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from premortem.domain import Template, datetime_to_ns, optional_ns, rfc3339_ns
from premortem.errors import NotFound
from premortem.service.deps import CanRead, PipelineDep
from premortem.service.params import MAX_INT32, Limit, Offset, Since, TemplateId, Until

router = APIRouter(prefix="/api/v1", tags=["templates"])


def template_json(template: Template, *, detail: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": template.id,
        "service": template.service,
        "template": template.template,
        "count": template.count,
        "first_seen": rfc3339_ns(template.first_seen_ns) if template.first_seen_ns else None,
        "last_seen": rfc3339_ns(template.last_seen_ns) if template.last_seen_ns else None,
    }
    if detail:
        body["samples"] = template.samples
        body["parameters"] = template.parameters
    return body


@router.get("/templates", dependencies=[CanRead])
async def list_templates(
    request: Request,
    pipeline: PipelineDep,
    service: str | None = None,
    q: Annotated[str | None, Query(description="text the template contains")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    # From the catalog's last published view (copy on write): ingestion may add or evict
    # templates meanwhile, and neither waits for the other. On the event loop, not in the thread
    # pool: a page of a capped catalogue is a few milliseconds, and on a server busy ingesting the
    # hop to a worker thread and back costs far more waiting for the GIL.
    if pipeline.handoff is None:
        page, total = pipeline.catalog.page(service=service, contains=q, limit=limit, offset=offset)
    else:  # scale-out: the workers mine, and save what they hold to the store
        page, total = await run_in_threadpool(
            request.app.state.runtime.templates.busiest,
            service=service,
            text=q,
            limit=limit,
            offset=offset,
        )
    return {"items": [template_json(t) for t in page], "total": total}


def find_template(request: Request, template_id: int) -> Template:
    """A template this process mines, or in scale-out one a worker saved to the store."""
    template: Template | None = request.app.state.runtime.template(template_id)
    if template is None:
        raise NotFound(f"no template with id {template_id}")
    return template


@router.get("/templates/{template_id}", dependencies=[CanRead])
def get_template(template_id: int, request: Request) -> dict[str, Any]:
    return template_json(find_template(request, template_id), detail=True)


@router.get("/templates/{template_id}/series", dependencies=[CanRead])
def template_series(
    request: Request,
    template_id: Annotated[int, Path(ge=0, le=MAX_INT32)],
    since: Since = None,
    until: Until = None,
    service: str | None = None,
) -> dict[str, Any]:
    """Count of the template per closed window (windows where it did not appear count 0)."""
    template = find_template(request, template_id)
    runtime = request.app.state.runtime
    width_ns = int(runtime.settings.window.seconds * 1e9)
    since_ns = datetime_to_ns(since) if since else template.first_seen_ns - width_ns
    until_ns = datetime_to_ns(until) if until else template.last_seen_ns + width_ns
    points = runtime.windows.series(template_id, since_ns, until_ns, service=service)
    return {
        "template_id": template_id,
        "window_s": runtime.settings.window.seconds,
        "points": [{"start": rfc3339_ns(p.start_ns), "count": p.count} for p in points],
    }


@router.get("/anomalies", dependencies=[CanRead])
def list_anomalies(
    request: Request,
    service: str | None = None,
    detector: str | None = None,
    template_id: TemplateId = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Signals of the online detectors, newest first, each with its evidence."""
    page = request.app.state.runtime.anomalies.list_anomalies(
        service=service,
        detector=detector,
        template_id=template_id,
        since_ns=optional_ns(since),
        until_ns=optional_ns(until),
        limit=limit,
        offset=offset,
    )
    items = [
        {**a.model_dump(mode="json", exclude={"time_ns"}), "time": rfc3339_ns(a.time_ns)}
        for a in page.items
    ]
    return {"items": items, "total": page.total}
