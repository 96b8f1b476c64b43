"""Failures premortem saw live, a learned mode's manifestation in the logs (premortem.failures)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from premortem.domain import optional_ns
from premortem.failures import OBSERVED_FAILURE, failure_view
from premortem.ports import EventQuery
from premortem.service.deps import CanRead, PipelineDep
from premortem.service.params import Limit, Offset, Since, Until

router = APIRouter(prefix="/api/v1", tags=["learning"])


@router.get("/failures", dependencies=[CanRead])
def list_failures(
    pipeline: PipelineDep,
    service: str | None = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Failures seen live, newest first: when, which service, which mode, and the line."""
    query = EventQuery(
        service, OBSERVED_FAILURE, optional_ns(since), optional_ns(until), limit, offset
    )
    page = pipeline.store.list_events(query)
    return {"items": [failure_view(e) for e in page.items], "total": page.total}
