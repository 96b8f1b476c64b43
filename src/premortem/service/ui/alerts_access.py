"""The UI's way to the alerting feature: the running `AlertingService` when the app holds one
(`app.state.alerting`), else its SQL store on the app's database, so pages work either way."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from premortem.alerting.model import (
    Alert,
    AlertQuery,
    AlertState,
    Feedback,
    FeedbackKind,
    Matcher,
    Silence,
)
from premortem.alerting.repository import AlertRepository
from premortem.alerting.service import AlertingService
from premortem.clock import Clock
from premortem.domain import stable_id
from premortem.ports import Page
from premortem.runtime.assembly import Runtime
from premortem.store.alerts import AlertStore


@dataclass(slots=True)
class Alerts:
    store: AlertRepository
    service: AlertingService | None
    clock: Clock

    def list_alerts(self, query: AlertQuery) -> Page[Alert]:
        return self.store.list_alerts(query)

    def get(self, alert_id: str) -> Alert:
        return self.store.get_alert(alert_id)

    def firing_by_mode(self, *, service: str | None = None) -> dict[str, Alert]:
        """The firing alert of each mode (the newest, when a mode fires for several scopes)."""
        query = AlertQuery(state=AlertState.FIRING, service=service or None, limit=500)
        found: dict[str, Alert] = {}
        for alert in self.store.list_alerts(query).items:
            found.setdefault(alert.mode_id, alert)
        return found

    def acknowledge(self, alert_id: str, acknowledged: bool) -> None:
        if self.service is not None:
            self.service.acknowledge(alert_id, acknowledged)
        else:
            self.store.set_acknowledged(alert_id, acknowledged)

    def feedback(self, alert_id: str, kind: FeedbackKind, comment: str) -> None:
        if self.service is not None:
            self.service.add_feedback(alert_id, kind, comment)
            return
        self.store.get_alert(alert_id)
        now = self.clock.now_ns()
        self.store.add_feedback(
            Feedback(stable_id("feedback", alert_id, kind.value, now), alert_id, kind, now, comment)
        )

    def silence(self, matchers: list[Matcher], *, hours: float, comment: str, by: str) -> None:
        now = self.clock.now_ns()
        ends = now + int(hours * 3600 * 1e9)
        if self.service is not None:
            self.service.add_silence(matchers, ends_ns=ends, created_by=by, comment=comment)
            return
        silence_id = stable_id("silence", [m.to_json() for m in matchers], now, ends, now)
        self.store.add_silence(Silence(silence_id, tuple(matchers), now, ends, by, comment))

    def feedback_of(self, alert_id: str) -> list[Feedback]:
        return self.store.list_feedback(alert_id)


def alerts_of(request: Request) -> Alerts:
    runtime: Runtime = request.app.state.runtime
    service: AlertingService | None = getattr(request.app.state, "alerting", None)
    if service is not None:
        return Alerts(service.store, service, runtime.clock)
    store: AlertStore | None = getattr(request.app.state, "ui_alert_store", None)
    if store is None:
        store = request.app.state.ui_alert_store = AlertStore(runtime.engine)
    return Alerts(store, None, runtime.clock)
