"""Chaos Toolkit's live HTTP notifications (`POST /api/v1/chaostoolkit/events`, formats.md §6).

Point a Chaos Toolkit settings file at premortem:

    notifications:
      - type: http
        url: http://127.0.0.1:8080/api/v1/chaostoolkit/events
        events: [run-started, run-completed, run-failed, run-deviated]

The body is `{"name": <event>, "payload": <any>, "phase": ..., "ts": <epoch seconds>}`.
`run-started` (payload: the experiment) is stored as an event of type `chaostoolkit.run-started`;
a run event whose payload is a journal (`run-completed`, `run-failed`, `run-deviated`) is ingested
as a test run, exactly like `POST /api/v1/test-runs?format=chaostoolkit` (a deviated run sends
both run-failed and run-deviated: storing a test run is idempotent). Every other event is
acknowledged and ignored. `GET` lists the stored Chaos Toolkit events (`{items, total}`, like every
list); with `forward_event_payload: false` Chaos Toolkit sends a body-less GET, which is that read
(it carries nothing, so such a channel needs a read token when tokens are on, or no channel).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from premortem.domain import JSON, MAX_EPOCH_S, Event
from premortem.errors import IngestError
from premortem.ingest import chaostoolkit
from premortem.ingest.fields import expect_object
from premortem.ports import EventQuery
from premortem.service import openapi
from premortem.service.deps import Body, CanIngest, CanRead, MetricsDep, PipelineDep
from premortem.service.params import Limit, Offset

router = APIRouter(prefix="/api/v1/chaostoolkit", tags=["inputs"])

EVENT_TYPE_PREFIX = "chaostoolkit."
SOURCE = "chaostoolkit"


@router.post("/events", dependencies=[CanIngest], openapi_extra=openapi.CHAOSTOOLKIT_NOTIFICATION)
async def post_notification(
    body: Body, pipeline: PipelineDep, metrics: MetricsDep
) -> dict[str, Any]:
    """One Chaos Toolkit notification: run-started → event, a run's journal → test run."""
    try:
        notification = _notification(body)
        name = str(notification["name"])
        events = _events(notification, name, now_ns=pipeline.clock.now_ns())
        journal = chaostoolkit.journal_from_notification(notification)
        runs = (
            chaostoolkit.parse(notification)
            if name.startswith("run-") and journal is not None
            else []
        )
    except IngestError as exc:
        metrics.rejected.labels("chaostoolkit").inc()
        raise exc
    pipeline.admit(len(events) + len(runs))  # both stored, or neither (429 when behind)
    if events:
        await run_in_threadpool(pipeline.ingest_events, events)
        metrics.ingested.labels("event").inc(len(events))
    if runs:
        await run_in_threadpool(pipeline.ingest_test_runs, runs)
        metrics.ingested.labels("test_run").inc(len(runs))
    return {
        "event": name,
        "stored_events": [e.id for e in events],
        "test_runs": [r.run.test_id for r in runs],
        "ignored": not events and not runs,
    }


@router.get("/events", dependencies=[CanRead])
def list_notifications(
    pipeline: PipelineDep, limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    """The Chaos Toolkit events stored from notifications, newest first, in the list shape every
    list answers with. (A `forward_event_payload: false` channel sends a GET that carries
    nothing; it is answered as this read.)"""
    page = pipeline.store.list_events(EventQuery(source=SOURCE, limit=limit, offset=offset))
    return {"items": [e.to_json() for e in page.items], "total": page.total}


def _notification(body: bytes) -> JSON:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise IngestError(f"body is not JSON: {exc}", pointer="") from exc
    notification = expect_object(doc, "")
    if not isinstance(notification.get("name"), str) or not notification["name"]:
        raise IngestError("is required (the Chaos Toolkit event name)", pointer="/name")
    phase = notification.get("phase")
    if phase is not None and not isinstance(phase, str):
        raise IngestError("must be a string", pointer="/phase")
    _ts_ns(notification.get("ts"), 0)  # checked on every notification, used or not
    return notification


def _events(notification: JSON, name: str, *, now_ns: int) -> list[Event]:
    """The run-started event (other notifications are test runs or ignored)."""
    if name != "run-started":
        return []
    payload = notification.get("payload")
    experiment = payload if isinstance(payload, dict) else {}
    title = str(experiment.get("title") or "")
    tags = [t for t in experiment.get("tags") or [] if isinstance(t, str)]
    configuration = experiment.get("configuration")
    configuration = configuration if isinstance(configuration, dict) else {}
    return [
        Event(
            time_ns=_ts_ns(notification.get("ts"), now_ns),
            type=EVENT_TYPE_PREFIX + name,
            source=SOURCE,
            subject=title,
            service=chaostoolkit.labelled(configuration, tags, ("service",)) or "",
            attributes={
                "phase": str(notification.get("phase") or ""),
                "tags": tags,
                "environment": chaostoolkit.labelled(configuration, tags, ("environment", "env"))
                or "",
                "methods": _method_names(experiment),
            },
        )
    ]


def _ts_ns(ts: Any, now_ns: int) -> int:
    """Chaos Toolkit's `ts` is epoch seconds (float, UTC); without one, the time it arrived."""
    if isinstance(ts, int | float) and not isinstance(ts, bool) and 0 < ts <= MAX_EPOCH_S:
        return int(ts * 1e9)
    if ts is not None:
        raise IngestError(
            f"must be a positive number of seconds since the epoch, at most {MAX_EPOCH_S}",
            pointer="/ts",
        )
    return now_ns


def _method_names(experiment: JSON) -> list[str]:
    method = experiment.get("method")
    if not isinstance(method, list):
        return []
    return [str(a.get("name")) for a in method if isinstance(a, dict) and a.get("name")][:50]
