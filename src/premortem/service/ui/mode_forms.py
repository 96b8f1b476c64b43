"""Writing failure modes by hand: create and edit modes, their triggers and their mitigations.

Forms post to these routes (same-site, `admin` scope when tokens are configured); every save goes
through the mode repository, so it becomes a new version, and `apply_patch` marks the fields as
hand-written so retraining keeps them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError

from premortem.domain import FailureMode, Mitigation, Source, Trigger, TriggerKind, stable_id
from premortem.errors import NotFound
from premortem.modes.edit import apply_patch, manual_mode_id
from premortem.runtime.assembly import Runtime
from premortem.service.ui.modes import mode_or_404
from premortem.service.ui.web import Editor, Viewer, render, runtime_of, see_other

router = APIRouter(include_in_schema=False)

SEVERITIES = ("info", "warning", "critical")
Text = Annotated[str, Form(max_length=10_000)]


class FormError(Exception):
    pass


T = TypeVar("T")


def _json_object(text: str, what: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormError(f"{what} is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    if not isinstance(value, dict):
        raise FormError(f'{what} must be a JSON object, e.g. {{"key": "value"}}')
    return value


def _numbers(text: str) -> list[float]:
    try:
        return [float(part) for part in re.split(r"[,\s]+", text.strip()) if part]
    except ValueError as exc:
        raise FormError("lead times must be numbers of seconds, separated by commas") from exc


def _form_page(
    request: Request, viewer: Viewer, name: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    return render(request, name, viewer=viewer, status=status, severities=SEVERITIES, **context)


# --------------------------------------------------------------------------- modes


@router.get("/modes/new", response_class=HTMLResponse)
def new_mode_form(request: Request, viewer: Editor) -> HTMLResponse:
    values = {
        "name": "",
        "service": "",
        "severity": "warning",
        "description": "",
        "manifestation": "",
    }
    return _form_page(request, viewer, "mode_form.html", mode=None, values=values, error=None)


def _mode_fields(
    name: str, service: str, severity: str, description: str, manifestation: str
) -> dict[str, Any]:
    if not name.strip():
        raise FormError("a name is required")
    if severity not in SEVERITIES:
        raise FormError("severity must be info, warning or critical")
    return {
        "name": name.strip(),
        "service": service.strip(),
        "severity": severity,
        "description": description.strip(),
        "manifestation": _json_object(manifestation, "Manifestation"),
    }


@router.post("/modes", response_model=None)
def create_mode(
    request: Request,
    viewer: Editor,
    name: Text,
    service: Text = "",
    severity: Text = "warning",
    description: Text = "",
    manifestation: Text = "",
) -> Response:
    values = locals().copy()
    runtime = runtime_of(request)
    try:
        fields = _mode_fields(name, service, severity, description, manifestation)
    except FormError as exc:
        return _form_page(
            request, viewer, "mode_form.html", status=400, mode=None, values=values, error=str(exc)
        )
    mode_id = manual_mode_id(fields["name"], fields["service"])
    try:
        runtime.modes.get_mode(mode_id)
    except NotFound:
        pass
    else:
        error = "a failure mode with this name already exists for this service"
        return _form_page(
            request, viewer, "mode_form.html", status=409, mode=None, values=values, error=error
        )
    mode = FailureMode(id=mode_id, source=Source.MANUAL, **fields)
    runtime.modes.save_mode(mode, change="created by hand in the web UI")
    return see_other(f"/modes/{mode_id}?notice=created")


@router.get("/modes/{mode_id}/edit", response_class=HTMLResponse)
def edit_mode_form(request: Request, mode_id: str, viewer: Editor) -> HTMLResponse:
    mode = mode_or_404(runtime_of(request), mode_id)
    values = {
        "name": mode.name,
        "service": mode.service,
        "severity": mode.severity,
        "description": mode.description,
        "manifestation": json.dumps(mode.manifestation, indent=2) if mode.manifestation else "",
    }
    return _form_page(request, viewer, "mode_form.html", mode=mode, values=values, error=None)


@router.post("/modes/{mode_id}/edit", response_model=None)
def edit_mode(
    request: Request,
    mode_id: str,
    viewer: Editor,
    name: Text,
    service: Text = "",
    severity: Text = "warning",
    description: Text = "",
    manifestation: Text = "",
) -> Response:
    values = {
        "name": name,
        "service": service,
        "severity": severity,
        "description": description,
        "manifestation": manifestation,
    }
    runtime = runtime_of(request)
    mode = mode_or_404(runtime, mode_id)
    try:
        fields = _mode_fields(name, service, severity, description, manifestation)
    except FormError as exc:
        return _form_page(
            request, viewer, "mode_form.html", status=400, mode=mode, values=values, error=str(exc)
        )
    changes = {k: v for k, v in fields.items() if getattr(mode, k) != v}
    if changes:
        edited = ", ".join(sorted(changes))
        runtime.modes.save_mode(
            apply_patch(mode, changes), change=f"edited in the web UI: {edited}"
        )
    return see_other(f"/modes/{mode_id}?notice=saved")


@router.post("/modes/{mode_id}/delete")
def delete_mode(request: Request, mode_id: str, _viewer: Editor) -> Response:
    runtime = runtime_of(request)
    mode = mode_or_404(runtime, mode_id)
    if mode.source is not Source.MANUAL:
        raise HTTPException(409, "only hand-written modes are deleted here; learned ones come back")
    runtime.modes.delete_mode(mode_id)
    return see_other("/modes")


# ------------------------------------------------------------- triggers and mitigations


def _item(items: list[Any], index: int | None) -> Any:
    if index is None:
        return None
    if not 0 <= index < len(items):
        raise HTTPException(404, "no such item")
    return items[index]


def _trigger_values(trigger: Trigger | None) -> dict[str, str]:
    if trigger is None:
        return {
            "kind": "log_pattern",
            "description": "",
            "condition": "",
            "support": "0",
            "precision": "0",
            "lead_times": "",
        }
    return {
        "kind": trigger.kind.value,
        "description": trigger.description,
        "condition": json.dumps(trigger.condition, indent=2) if trigger.condition else "",
        "support": str(trigger.support),
        "precision": str(trigger.precision),
        "lead_times": ", ".join(f"{s:g}" for s in trigger.lead_times_s),
    }


@router.get("/modes/{mode_id}/triggers/new", response_class=HTMLResponse)
@router.get("/modes/{mode_id}/triggers/{index}/edit", response_class=HTMLResponse)
def trigger_form(
    request: Request, mode_id: str, viewer: Editor, index: int | None = None
) -> HTMLResponse:
    mode = mode_or_404(runtime_of(request), mode_id)
    trigger = _item(mode.triggers, index)
    return _form_page(
        request,
        viewer,
        "trigger_form.html",
        mode=mode,
        index=index,
        kinds=[k.value for k in TriggerKind],
        values=_trigger_values(trigger),
        error=None,
    )


@router.post("/modes/{mode_id}/triggers", response_model=None)
@router.post("/modes/{mode_id}/triggers/{index}/edit", response_model=None)
def save_trigger(
    request: Request,
    mode_id: str,
    viewer: Editor,
    kind: Text,
    description: Text,
    condition: Text = "",
    support: Text = "0",
    precision: Text = "0",
    lead_times: Text = "",
    index: int | None = None,
) -> Response:
    runtime = runtime_of(request)
    mode = mode_or_404(runtime, mode_id)
    current = _item(mode.triggers, index)
    values = {
        "kind": kind,
        "description": description,
        "condition": condition,
        "support": support,
        "precision": precision,
        "lead_times": lead_times,
    }
    try:
        trigger = Trigger(
            id=current.id if current else stable_id("trigger", mode_id, description, kind)[:16],
            kind=TriggerKind(kind),
            description=description.strip(),
            condition=_json_object(condition, "Condition"),
            support=float(support or 0),
            precision=float(precision or 0),
            lead_times_s=_numbers(lead_times),
            source=Source.MANUAL,
        )
        if not trigger.description:
            raise FormError("a description is required")
    except (FormError, ValueError, ValidationError) as exc:
        return _form_page(
            request,
            viewer,
            "trigger_form.html",
            status=400,
            mode=mode,
            index=index,
            kinds=[k.value for k in TriggerKind],
            values=values,
            error=_message(exc),
        )
    what = "added" if index is None else "edited"
    triggers = _placed(mode.triggers, index, trigger)
    return _save_items(runtime, mode, "triggers", triggers, change=f"trigger {what}")


def _placed(items: Sequence[T], index: int | None, item: T) -> list[T]:
    """`items` with `item` appended (index None) or put in place of the one at `index`."""
    placed = list(items)
    if index is None:
        placed.append(item)
    else:
        placed[index] = item
    return placed


def _save_items(
    runtime: Runtime,
    mode: FailureMode,
    field: str,
    items: Sequence[BaseModel],
    *,
    change: str,
    notice: str = "saved",
) -> Response:
    """Store the mode with its triggers or mitigations replaced; they become hand-written."""
    runtime.modes.save_mode(
        apply_patch(mode, {field: [item.model_dump() for item in items]}),
        change=f"{change} in the web UI",
    )
    return see_other(f"/modes/{mode.id}?notice={notice}")


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return str(exc)


@router.post("/modes/{mode_id}/triggers/{index}/delete")
def delete_trigger(request: Request, mode_id: str, index: int, _viewer: Editor) -> Response:
    runtime = runtime_of(request)
    mode = mode_or_404(runtime, mode_id)
    _item(mode.triggers, index)
    triggers = [t for i, t in enumerate(mode.triggers) if i != index]
    return _save_items(
        runtime, mode, "triggers", triggers, change="trigger removed", notice="deleted"
    )


@router.get("/modes/{mode_id}/mitigations/new", response_class=HTMLResponse)
@router.get("/modes/{mode_id}/mitigations/{index}/edit", response_class=HTMLResponse)
def mitigation_form(
    request: Request, mode_id: str, viewer: Editor, index: int | None = None
) -> HTMLResponse:
    mode = mode_or_404(runtime_of(request), mode_id)
    current = _item(mode.mitigations, index)
    values = {
        "action": current.action if current else "",
        "runbook_url": (current.runbook_url or "") if current else "",
    }
    return _form_page(
        request, viewer, "mitigation_form.html", mode=mode, index=index, values=values, error=None
    )


@router.post("/modes/{mode_id}/mitigations", response_model=None)
@router.post("/modes/{mode_id}/mitigations/{index}/edit", response_model=None)
def save_mitigation(
    request: Request,
    mode_id: str,
    viewer: Editor,
    action: Text,
    runbook_url: Text = "",
    index: int | None = None,
) -> Response:
    runtime = runtime_of(request)
    mode = mode_or_404(runtime, mode_id)
    current = _item(mode.mitigations, index)
    url = runbook_url.strip()
    if not action.strip() or (url and not url.startswith(("https://", "http://"))):
        error = (
            "an action is required"
            if not action.strip()
            else "the runbook URL must start with https:// or http://"
        )
        return _form_page(
            request,
            viewer,
            "mitigation_form.html",
            status=400,
            mode=mode,
            index=index,
            values={"action": action, "runbook_url": runbook_url},
            error=error,
        )
    mitigation = Mitigation(
        id=current.id if current else stable_id("mitigation", mode_id, action)[:16],
        action=action.strip(),
        runbook_url=url or None,
        source=Source.MANUAL,
    )
    what = "added" if index is None else "edited"
    items = _placed(mode.mitigations, index, mitigation)
    return _save_items(runtime, mode, "mitigations", items, change=f"mitigation {what}")


@router.post("/modes/{mode_id}/mitigations/{index}/delete")
def delete_mitigation(request: Request, mode_id: str, index: int, _viewer: Editor) -> Response:
    runtime = runtime_of(request)
    mode = mode_or_404(runtime, mode_id)
    _item(mode.mitigations, index)
    items = [m for i, m in enumerate(mode.mitigations) if i != index]
    return _save_items(
        runtime, mode, "mitigations", items, change="mitigation removed", notice="deleted"
    )
