"""Alerts, silences and feedback (`/api/v1`). Errors are premortem errors, mapped centrally.

Reading needs the `read` scope; acknowledging, silencing and feedback need `admin`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from premortem.alerting import AlertingService, AlertQuery, AlertState, FeedbackKind, Matcher
from premortem.domain import UtcDatetime, datetime_to_ns, optional_ns
from premortem.errors import IngestError
from premortem.service.deps import CanAdmin, CanRead
from premortem.service.params import Limit, Offset, Since, Until

router = APIRouter(prefix="/api/v1", tags=["alerts"])


async def get_alerting(request: Request) -> AlertingService:
    alerting: AlertingService = request.app.state.alerting
    return alerting


Alerting = Annotated[AlertingService, Depends(get_alerting)]


class MatcherIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)
    value: str = Field(max_length=1024)
    is_regex: bool = False


class SilenceIn(BaseModel):
    """Alertmanager's field names, so an operator's habits carry over."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    matchers: list[MatcherIn] = Field(min_length=1, max_length=32)
    starts_at: UtcDatetime | None = Field(default=None, alias="startsAt")
    ends_at: UtcDatetime = Field(alias="endsAt")
    created_by: str = Field(default="", alias="createdBy", max_length=256)
    comment: str = Field(default="", max_length=4096)


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["confirmed", "prevented", "false_alarm"]
    comment: str = Field(default="", max_length=4096)


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    acknowledged: bool = True


@router.get("/alerts", dependencies=[CanRead])
def list_alerts(
    alerting: Alerting,
    state: Annotated[Literal["firing", "resolved", "all"] | None, Query()] = None,
    mode: str | None = None,
    service: str | None = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Alerts, newest first (`state=all`, the default, lists both states); `since`/`until`
    select alerts active at some time in between."""
    query = AlertQuery(
        state=AlertState(state) if state and state != "all" else None,
        mode_id=mode,
        service=service,
        since_ns=optional_ns(since),
        until_ns=optional_ns(until),
        limit=limit,
        offset=offset,
    )
    page = alerting.list_alerts(query)
    return {"items": [a.to_json() for a in page.items], "total": page.total}


@router.get("/alerts/{alert_id}", dependencies=[CanRead])
def get_alert(alerting: Alerting, alert_id: str) -> dict[str, Any]:
    alert = alerting.get_alert(alert_id)
    return {**alert.to_json(), "feedback": [f.to_json() for f in alerting.feedback_on(alert_id)]}


@router.post("/alerts/{alert_id}/ack", dependencies=[CanAdmin])
def acknowledge(alerting: Alerting, alert_id: str, body: AckIn | None = None) -> dict[str, Any]:
    acknowledged = body.acknowledged if body else True
    return alerting.acknowledge(alert_id, acknowledged).to_json()


@router.post("/alerts/{alert_id}/feedback", dependencies=[CanAdmin], status_code=201)
def add_feedback(alerting: Alerting, alert_id: str, body: FeedbackIn) -> dict[str, Any]:
    return alerting.add_feedback(alert_id, FeedbackKind(body.kind), body.comment).to_json()


@router.post("/silences", dependencies=[CanAdmin], status_code=201)
def add_silence(alerting: Alerting, body: SilenceIn) -> dict[str, Any]:
    silence = alerting.add_silence(
        [_matcher(i, m) for i, m in enumerate(body.matchers)],
        starts_ns=datetime_to_ns(body.starts_at) if body.starts_at else None,
        ends_ns=datetime_to_ns(body.ends_at),
        created_by=body.created_by,
        comment=body.comment,
    )
    return silence.to_json(alerting.clock.now_ns())


def _matcher(index: int, raw: MatcherIn) -> Matcher:
    try:
        return Matcher(raw.name, raw.value, raw.is_regex)
    except IngestError as exc:
        raise exc.at(f"/matchers/{index}") from exc


@router.get("/silences", dependencies=[CanRead])
def list_silences(alerting: Alerting, active: bool = False) -> dict[str, Any]:
    silences = alerting.list_silences(active_only=active)
    now = alerting.clock.now_ns()
    return {"items": [s.to_json(now) for s in silences], "total": len(silences)}


@router.delete("/silences/{silence_id}", dependencies=[CanAdmin])
def expire_silence(alerting: Alerting, silence_id: str) -> dict[str, Any]:
    """Expires the silence now (it stays listed, as expired)."""
    return alerting.expire_silence(silence_id).to_json(alerting.clock.now_ns())
