"""Alerts: firing and resolved, each with its evidence bundle and log lines; acknowledge, silence
and feedback (confirmed / prevented / false alarm) as same-site form posts."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from premortem.alerting.model import Alert, AlertQuery, AlertState, FeedbackKind, Matcher
from premortem.domain import Event
from premortem.errors import NotFound
from premortem.failures import OBSERVED_FAILURE, is_failure_event
from premortem.ports import EventQuery, LogQuery
from premortem.runtime.assembly import Runtime
from premortem.service.ui.alerts_access import alerts_of
from premortem.service.ui.queries import PageInfo
from premortem.service.ui.web import Editor, Reader, render, runtime_of, see_other

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
LOG_LINES_PER_TEMPLATE = 10
MAX_TIMELINE_LINES = 40
MAX_ITEMS = 20
NS = 1_000_000_000
DEFAULT_HORIZON_NS = 300 * NS
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
        services=runtime_of(request).overview.services(),
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


def incident_timeline(runtime: Runtime, alert: Alert) -> list[dict[str, Any]]:
    """This incident in time order: the live lines that fired the alert's indicators, the alert
    (raised, resolved) and the failures seen on its service within a horizon after it.

    The lines are the prediction's `record_ids`; an alert without them (sent by another
    predictor) gets the stored lines of the templates it cites, on its service, from one horizon
    before it was raised until it was last updated — never lines of other days or runs."""
    evidence = alert.doc.get("evidence", {})
    horizon_ns = int(alert.horizon_s * NS) if alert.horizon_s else DEFAULT_HORIZON_NS
    ids = [str(i) for i in evidence.get("other", {}).get("record_ids", [])][:MAX_TIMELINE_LINES]
    texts = {
        t["template_id"]: t["template"]
        for t in evidence.get("templates", [])
        if isinstance(t.get("template_id"), int)
    }
    store = runtime.pipeline.store
    if ids:
        records = store.list_logs(LogQuery(ids=tuple(ids), limit=MAX_TIMELINE_LINES)).items
        # premortem's own predictor numbers templates by its model: the stored lines carry the
        # catalogue's ids, and a cited id may be another template's there.
        texts = {}
    else:
        records = []
        for template_id in sorted(texts):
            records += store.list_logs(
                LogQuery(
                    service=alert.service or None,
                    template_id=template_id,
                    since_ns=alert.started_ns - horizon_ns,
                    until_ns=alert.updated_ns + 1,
                    limit=LOG_LINES_PER_TEMPLATE,
                )
            ).items
    # The live predictor cites templates by text; the lines carry the catalogue's ids.
    unnamed = [r.template_id for r in records if r.template_id is not None]
    texts = {**runtime.templates.texts([i for i in unnamed if i not in texts]), **texts}
    entries: list[dict[str, Any]] = [
        {
            "time_ns": r.time_ns,
            "kind": "precursor" if r.time_ns <= alert.started_ns else "after",
            "service": r.service,
            "level": r.severity_text,
            "what": texts.get(r.template_id, "") if r.template_id is not None else "",
            "line": r.body,
        }
        for r in records
    ]
    entries.append(_marker(alert.started_ns, "alert", alert, "alert raised"))
    if alert.resolved_ns:
        entries.append(_marker(alert.resolved_ns, "resolved", alert, "alert resolved"))
    # A failure seen live is stored under the service that logged it, which need not be the
    # mode's (a test run's `service` names the system, its lines come from "ticket-api"): it
    # belongs to this alert when it names the alert's mode, or comes from the alert's service.
    since, until = alert.started_ns, alert.started_ns + horizon_ns
    of_service = EventQuery(service=alert.service or None, since_ns=since, until_ns=until)
    seen_live = EventQuery(type=OBSERVED_FAILURE, since_ns=since, until_ns=until)
    failures = list(
        {
            e.id: e
            for query in (of_service, seen_live)
            for e in store.list_events(replace(query, limit=MAX_ITEMS)).items
        }.values()
    )
    entries += [
        {
            "time_ns": e.time_ns,
            "kind": "failure",
            "service": e.service,
            "level": "",
            "what": f"{e.type}: {e.subject}",
            "line": "",
        }
        for e in failures
        if is_failure_event(e.type) and _concerns(e, alert)
    ]
    order = {"precursor": 0, "alert": 1, "after": 2, "failure": 3, "resolved": 4}
    return _grouped(sorted(entries, key=lambda e: (e["time_ns"], order[e["kind"]], e["line"])))


def _concerns(event: Event, alert: Alert) -> bool:
    """A failure event of the alert's mode; one of its service that names no mode or another
    mode only while the alert was open (until it resolved, or in the same second): another
    mode's failure minutes after this alert resolved is another incident."""
    named = event.attributes.get("mode_ids") or [event.attributes.get("mode_id")]
    if alert.mode_id in named:
        return True
    if alert.service and event.service != alert.service:
        return False
    return not alert.resolved_ns or event.time_ns <= alert.resolved_ns + NS


def _grouped(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive lines of one template become one row (first time, last time, count), its
    lines folded under it: a timeline of what happened, not a log dump."""
    rows: list[dict[str, Any]] = []
    for entry in entries:
        last = rows[-1] if rows else None
        same = (
            last is not None
            and entry["line"]
            and last["lines"]
            and (last["kind"], last["what"], last["service"])
            == (entry["kind"], entry["what"], entry["service"])
            and entry["what"]
        )
        if same and last is not None:
            last["until_ns"] = entry["time_ns"]
            last["lines"].append((entry["time_ns"], entry["line"]))
            continue
        lines = [(entry["time_ns"], entry["line"])] if entry["line"] else []
        rows.append({**entry, "until_ns": entry["time_ns"], "lines": lines})
    return rows


def _marker(time_ns: int, kind: str, alert: Alert, what: str) -> dict[str, Any]:
    probability = f"{alert.probability * 100:.0f}%"
    return {
        "time_ns": time_ns,
        "kind": kind,
        "service": alert.service,
        "level": "",
        "what": f"{what} ({probability})" if kind == "alert" else what,
        "line": "",
    }


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
        timeline=incident_timeline(runtime_of(request), alert),
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
