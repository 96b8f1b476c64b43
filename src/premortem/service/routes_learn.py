"""Training the correlation engine on demand, and the history of trained models."""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from premortem.domain import optional_ns, rfc3339_ns
from premortem.errors import Conflict, NotFound
from premortem.runtime.assembly import Runtime
from premortem.service.deps import CanAdmin, CanRead
from premortem.service.openapi import problem_responses
from premortem.service.params import Until

router = APIRouter(prefix="/api/v1", tags=["learning"])
_training = threading.Lock()


@router.post("/train", dependencies=[CanAdmin], responses=problem_responses(409))
async def train_now(request: Request, until: Until = None) -> dict[str, Any]:
    """Retrain on everything stored — or, with `until`, on the test runs (events, simulations)
    that started before it, holding the later ones out to replay against the model; the server
    switches to the new model right away."""
    runtime: Runtime = request.app.state.runtime
    if not _training.acquire(blocking=False):
        raise Conflict("training is already running")
    try:
        result = await run_in_threadpool(partial(runtime.trainer.run, until_ns=optional_ns(until)))
    finally:
        _training.release()
    await run_in_threadpool(runtime.reload_model)
    return {
        "version": result.version,
        "modes": result.modes,
        "created": result.created,
        "updated": result.updated,
        "retired": result.retired,
        "stats": result.stats,
    }


@router.get("/models", dependencies=[CanRead])
def list_models(request: Request) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    items = [
        {
            "version": m.version,
            "created_at": rfc3339_ns(m.created_ns),
            "kind": m.kind,
            "summary": m.summary,
            "serving": m.version == runtime.prediction.version,
        }
        for m in runtime.models.history()
    ]
    return {"items": items, "total": len(items), **alert_threshold(runtime)}


@router.get("/models/latest", dependencies=[CanRead], responses=problem_responses(404))
def latest_model(request: Request) -> dict[str, Any]:
    """The model predictions are made with now, and the alert threshold in use."""
    runtime: Runtime = request.app.state.runtime
    stored = runtime.models.latest()
    if stored is None:
        raise NotFound("no model has been trained yet")
    return {
        "version": stored.version,
        "created_at": rfc3339_ns(stored.created_ns),
        "kind": stored.kind,
        "summary": stored.summary,
        "serving": stored.version == runtime.prediction.version,
        **alert_threshold(runtime),
    }


def alert_threshold(runtime: Runtime) -> dict[str, Any]:
    """The probability at which predictions alert, and where it came from: the lowest in force,
    and each mode's own when they were learned per mode."""
    threshold = runtime.alert_threshold()
    return {
        "alert_threshold": threshold.value,
        "alert_threshold_source": threshold.source,
        "alert_thresholds_by_mode": dict(sorted(threshold.by_mode.items())),
    }
