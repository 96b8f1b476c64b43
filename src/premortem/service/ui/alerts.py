"""Alerts: firing and resolved, each with its evidence bundle and log lines; acknowledge, silence
and feedback (confirmed / prevented / false alarm) as same-site form posts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from premortem.alerting.model import Alert, AlertQuery, AlertState, FeedbackKind, Matcher
from premortem.errors import NotFound
from premortem.ports import LogQuery
from premortem.runtime import Runtime
from premortem.service.ui.alerts_access import alerts_of
from premortem.service.ui.queries import PageInfo, services
from premortem.service.ui.web import Editor, Reader, render, runtime_of, see_other

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
LOG_LINES_PER_TEMPLATE = 10
NOTICES = {
    "ack": "Alert acknowledged.",
    "unack": "Acknowledgement removed.",
    "silenced": "Silence created.",
    "feedback": "Thank you: your feedback is stored and will be used when the model is retrained.",
}
FEEDBACK_LABELS = {
    FeedbackKind.CONFIRMED: "Confirmed: the failure happened",
    FeedbackKind.PREVENTED: "Prevented: we acted and it did not happen",
    FeedbackKind.FALSE_ALARM: "False alarm: nothing was wrong",
}


@router.get("/alerts", response_class=HTMLResponse)
def alert_list(
    request: Request,
    viewer: Reader,
    state: str = "firing",
    service: str | None = None,
    offset: int = 0,
) -> HTMLResponse:
    chosen = state if state in ("firing", "resolved", "all") else "firing"
    query = AlertQuery(
        state=None if chosen == "all" else AlertState(chosen),
        service=service or None,
        limit=PAGE_SIZE,
        offset=max(0, offset),
    )
    page = alerts_of(request).list_alerts(query)
    info = PageInfo(page.total, query.offset, PAGE_SIZE, len(page.items))
    return render(
        request,
        "alerts.html",
        viewer=viewer,
        alerts=[_summary(a) for a in page.items],
        page=info,
        state=chosen,
        service=service or "",
        services=services(runtime_of(request).engine),
    )


def _summary(alert: Alert) -> dict[str, Any]:
    doc = alert.to_json()
    return {
        "id": alert.id,
        "name": doc.get("mode", {}).get("name", alert.mode_id),
        "mode_id": alert.mode_id,
        "service": alert.service,
        "severity": alert.severity,
        "state": alert.state.value,
        "probability": alert.probability,
        "acknowledged": alert.acknowledged,
        "started_ns": alert.started_ns,
        "resolved_ns": alert.resolved_ns,
        "lead_time": doc.get("lead_time"),
    }


def _alert_or_404(request: Request, alert_id: str) -> Alert:
    try:
        return alerts_of(request).get(alert_id)
    except NotFound as exc:
        raise HTTPException(404, f"no alert with id {alert_id!r}") from exc


def log_lines(runtime: Runtime, alert: Alert) -> list[dict[str, Any]]:
    """Stored log lines of the templates the alert cites, up to when it was last updated."""
    templates = alert.doc.get("evidence", {}).get("templates", [])
    found: list[dict[str, Any]] = []
    seen: set[int] = set()
    for template in templates:
        template_id = template.get("template_id")
        if not isinstance(template_id, int) or template_id in seen:
            continue
        seen.add(template_id)
        page = runtime.pipeline.store.list_logs(
            LogQuery(
                template_id=template_id,
                until_ns=alert.updated_ns + 1,
                limit=LOG_LINES_PER_TEMPLATE,
            )
        )
        found += [{"template_id": template_id, "record": r} for r in page.items]
    return found


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_detail(
    request: Request, alert_id: str, viewer: Reader, notice: str | None = None
) -> HTMLResponse:
    alert = _alert_or_404(request, alert_id)
    access = alerts_of(request)
    return render(
        request,
        "alert_detail.html",
        viewer=viewer,
        alert=alert,
        doc=alert.to_json(),
        lines=log_lines(runtime_of(request), alert),
        feedback=access.feedback_of(alert_id),
        feedback_labels={k.value: v for k, v in FEEDBACK_LABELS.items()},
        notice=NOTICES.get(notice or ""),
    )


@router.post("/alerts/{alert_id}/ack")
def acknowledge(
    request: Request,
    alert_id: str,
    _viewer: Editor,
    acknowledged: Annotated[str, Form()] = "1",
) -> RedirectResponse:
    _alert_or_404(request, alert_id)
    flag = acknowledged == "1"
    alerts_of(request).acknowledge(alert_id, flag)
    return see_other(f"/alerts/{alert_id}?notice={'ack' if flag else 'unack'}")


@router.post("/alerts/{alert_id}/silence")
def silence(
    request: Request,
    alert_id: str,
    viewer: Editor,
    hours: Annotated[float, Form(gt=0, le=24 * 30)] = 2.0,
    comment: Annotated[str, Form(max_length=1000)] = "",
) -> RedirectResponse:
    alert = _alert_or_404(request, alert_id)
    matchers = [Matcher("mode_id", alert.mode_id)]
    if alert.service:
        matchers.append(Matcher("service", alert.service))
    by = "web UI" + (" (signed in)" if viewer.signed_in else "")
    alerts_of(request).silence(matchers, hours=hours, comment=comment, by=by)
    return see_other(f"/alerts/{alert_id}?notice=silenced")


@router.post("/alerts/{alert_id}/feedback")
def feedback(
    request: Request,
    alert_id: str,
    _viewer: Editor,
    kind: Annotated[str, Form()],
    comment: Annotated[str, Form(max_length=1000)] = "",
) -> RedirectResponse:
    _alert_or_404(request, alert_id)
    try:
        chosen = FeedbackKind(kind)
    except ValueError as exc:
        raise HTTPException(422, "feedback must be confirmed, prevented or false_alarm") from exc
    alerts_of(request).feedback(alert_id, chosen, comment)
    return see_other(f"/alerts/{alert_id}?notice=feedback")
