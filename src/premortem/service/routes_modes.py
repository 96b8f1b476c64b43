"""The failure-mode database API, and the predictions made from it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from premortem.domain import (
    Evidence,
    FailureMode,
    Mitigation,
    Source,
    Trigger,
    optional_ns,
    rfc3339_ns,
)
from premortem.errors import Conflict, NotFound
from premortem.ingest.fields import check_depth
from premortem.modes.edit import apply_patch, manual_mode_id
from premortem.service.deps import CanAdmin, CanRead
from premortem.service.openapi import problem_responses
from premortem.service.params import Limit, Offset, Since, Until
from premortem.store.modes import SqlModeRepository, SqlPredictionRepository
from premortem.store.text import storable_json

router = APIRouter(prefix="/api/v1", tags=["failure modes"])


def modes_of(request: Request) -> SqlModeRepository:
    repository: SqlModeRepository = request.app.state.runtime.modes
    return repository


def predictions_of(request: Request) -> SqlPredictionRepository:
    repository: SqlPredictionRepository = request.app.state.runtime.predictions
    return repository


class _Shallow(BaseModel):
    """A body whose free-form JSON (manifestation, conditions) nests at most `MAX_DEPTH` levels:
    deeper is a 400 naming the place, not a document the database or the encoder refuses. Its
    text is made storable (`store.text`) before validation, so the answer shows what is kept."""

    @model_validator(mode="before")
    @classmethod
    def _not_too_deep(cls, data: Any) -> Any:
        check_depth(data, "")  # an IngestError, answered as 400 problem+json
        return storable_json(data)  # NUL and lone surrogates as the store keeps them


class FailureModeIn(_Shallow):
    """A hand-written failure mode."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512)
    description: str = ""
    severity: str = Field(default="warning", pattern="^(info|warning|critical)$")
    service: str = Field(default="", max_length=256)
    manifestation: dict[str, Any] = Field(default_factory=dict)
    triggers: list[Trigger] = Field(default_factory=list)
    mitigations: list[Mitigation] = Field(default_factory=list)
    evidence: Evidence = Field(default_factory=Evidence)


class FailureModePatch(_Shallow):
    """Fields to change; a field sent here is kept as written when the engine retrains."""

    model_config = ConfigDict(extra="forbid")

    # Absent when unchanged (the default is never validated), but never null: a mode has a name.
    name: str = Field(default=None, min_length=1, max_length=512)  # type: ignore[assignment]
    description: str | None = None
    severity: str | None = Field(default=None, pattern="^(info|warning|critical)$")
    service: str | None = Field(default=None, max_length=256)
    manifestation: dict[str, Any] | None = None
    triggers: list[Trigger] | None = None
    mitigations: list[Mitigation] | None = None


@router.get("/failure-modes", dependencies=[CanRead])
def list_failure_modes(
    request: Request,
    service: str | None = None,
    source: Annotated[str | None, Query(pattern="^(learned|manual)$")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    page = modes_of(request).list_modes(service=service, source=source, limit=limit, offset=offset)
    return {"items": [m.model_dump(mode="json") for m in page.items], "total": page.total}


@router.post(
    "/failure-modes",
    status_code=201,
    dependencies=[CanAdmin],
    responses=problem_responses(409),
)
def create_failure_mode(request: Request, body: FailureModeIn) -> dict[str, Any]:
    repository = modes_of(request)
    mode_id = manual_mode_id(body.name, body.service)
    try:
        repository.get_mode(mode_id)
    except NotFound:
        pass
    else:
        raise Conflict(f"a failure mode named {body.name!r} already exists for this service")
    mode = FailureMode(
        id=mode_id,
        source=Source.MANUAL,
        **body.model_dump(exclude={"triggers", "mitigations"}),
        triggers=[_manual(tr) for tr in body.triggers],
        mitigations=[_manual(m) for m in body.mitigations],
    )
    return repository.save_mode(mode, change="created by hand").model_dump(mode="json")


def _manual(item: Any) -> Any:
    return (
        item
        if "source" in item.model_fields_set
        else item.model_copy(update={"source": Source.MANUAL})
    )


@router.get("/failure-modes/{mode_id}", dependencies=[CanRead])
def get_failure_mode(request: Request, mode_id: str) -> dict[str, Any]:
    return modes_of(request).get_mode(mode_id).model_dump(mode="json")


@router.patch("/failure-modes/{mode_id}", dependencies=[CanAdmin])
def patch_failure_mode(request: Request, mode_id: str, body: FailureModePatch) -> dict[str, Any]:
    repository = modes_of(request)
    changes = body.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None:  # null resets a field to its default (no triggers, no description)
            changes[key] = FailureMode.model_fields[key].get_default(call_default_factory=True)
    for key in ("triggers", "mitigations"):
        if changes.get(key):
            changes[key] = [_manual(item) for item in getattr(body, key)]
    mode = apply_patch(repository.get_mode(mode_id), changes)
    edited = ", ".join(sorted(changes)) or "nothing"
    return repository.save_mode(mode, change=f"edited by hand: {edited}").model_dump(mode="json")


@router.delete("/failure-modes/{mode_id}", status_code=204, dependencies=[CanAdmin])
def delete_failure_mode(request: Request, mode_id: str) -> Response:
    modes_of(request).delete_mode(mode_id)
    return Response(status_code=204)


@router.get("/failure-modes/{mode_id}/versions", dependencies=[CanRead])
def failure_mode_versions(request: Request, mode_id: str) -> dict[str, Any]:
    versions = modes_of(request).versions(mode_id)
    if not versions:
        raise NotFound(f"no failure mode with id {mode_id!r}")
    items = [
        {
            "version": v.version,
            "changed_at": rfc3339_ns(v.changed_ns),
            "change": v.change,
            "mode": v.mode.model_dump(mode="json"),
        }
        for v in versions
    ]
    return {"items": items, "total": len(items)}


@router.get("/predictions", dependencies=[CanRead])
def list_predictions(
    request: Request,
    mode_id: str | None = None,
    service: str | None = None,
    since: Since = None,
    until: Until = None,
    min_probability: Annotated[float | None, Query(ge=0, le=1)] = None,
    current: Annotated[
        bool,
        Query(
            description="only the newest prediction per mode: open, or the one that closed it "
            "(evidence.closes set)"
        ),
    ] = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    repository = predictions_of(request)
    if current:
        items = sorted(repository.latest_per_mode(service=service), key=lambda p: -p.probability)
        return {"items": [p.model_dump(mode="json") for p in items], "total": len(items)}
    page = repository.list_predictions(
        mode_id=mode_id,
        service=service,
        since_ns=optional_ns(since),
        until_ns=optional_ns(until),
        min_probability=min_probability,
        limit=limit,
        offset=offset,
    )
    return {"items": [p.model_dump(mode="json") for p in page.items], "total": page.total}
