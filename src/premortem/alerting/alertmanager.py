"""Prometheus Alertmanager API v2 notifier (`POST /api/v2/alerts`).

Alertmanager wants active alerts re-sent continuously; route this notifier with RESEND and
UPDATED events too. A firing alert is sent with `endsAt` four resend intervals ahead (as
Prometheus does), so if premortem stops re-sending the alert still resolves in Alertmanager; a
resolved alert is sent with `endsAt` = the time it resolved. When an escalation changed the
severity label, the old label set (a different alert to Alertmanager) is ended in the same post.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from premortem.alerting.content import alert_annotations
from premortem.alerting.model import Alert, AlertState
from premortem.alerting.stages import Batch
from premortem.alerting.transport import post
from premortem.domain import rfc3339_ns


class AlertmanagerNotifier:
    def __init__(
        self,
        base_url: str,
        *,
        resend_interval_s: float = 60.0,
        client: httpx.Client | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = base_url.rstrip("/") + "/api/v2/alerts"
        self.resend_interval_s = resend_interval_s
        self.client = client or httpx.Client(timeout=timeout_s)

    def notify(self, batch: Batch) -> None:
        body: list[dict[str, Any]] = []
        for alert in batch.alerts:
            body.append(self.postable(alert, now_ns=batch.created_ns))
            if alert.previous_labels:
                ended = alert.evolve(labels=alert.previous_labels, state=AlertState.RESOLVED)
                body.append(self.postable(ended, now_ns=batch.created_ns))
        post(
            self.client,
            self.url,
            content=orjson.dumps(body),
            headers={"Content-Type": "application/json"},
        )

    def postable(self, alert: Alert, *, now_ns: int) -> dict[str, Any]:
        if alert.state is AlertState.FIRING:
            ends_ns = now_ns + int(4 * self.resend_interval_s * 1e9)
        else:
            ends_ns = alert.resolved_ns or now_ns
        return {
            "labels": dict(alert.labels),
            "annotations": alert_annotations(
                alert.doc, probability=alert.probability, service=alert.service
            ),
            "startsAt": rfc3339_ns(alert.started_ns),
            "endsAt": rfc3339_ns(ends_ns),
            "generatorURL": alert.doc.get("dashboard_url", ""),
        }

    def close(self) -> None:
        self.client.close()
