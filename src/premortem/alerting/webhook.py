"""Generic JSON webhook notifier; the payload is documented in docs/alerting.md.

Headers: `Idempotency-Key` (the batch id: the same on every retry, so a receiver can drop
duplicates of at-least-once delivery), `X-Premortem-Event`, and with a secret configured
`X-Premortem-Signature: sha256=<hex>`, an HMAC-SHA256 of the raw body.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx
import orjson

from premortem.alerting.content import alert_annotations, render_text
from premortem.alerting.model import AlertState
from premortem.alerting.stages import Batch
from premortem.alerting.transport import post
from premortem.domain import rfc3339_ns

PAYLOAD_VERSION = "1"


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def payload(batch: Batch) -> dict[str, Any]:
    firing = any(a.state is AlertState.FIRING for a in batch.alerts)
    alerts = []
    for alert in batch.alerts:
        view = alert.to_json()
        view["event"] = batch.event.value
        view["annotations"] = alert_annotations(
            alert.doc, probability=alert.probability, service=alert.service
        )
        view["text"] = render_text(view)
        alerts.append(view)
    return {
        "version": PAYLOAD_VERSION,
        "id": batch.id,
        "event": batch.event.value,
        "status": "firing" if firing else "resolved",
        "group_key": batch.group_key,
        "sent_at": rfc3339_ns(batch.created_ns),
        "alerts": alerts,
    }


class WebhookNotifier:
    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        client: httpx.Client | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self.secret = secret.encode() if secret else None
        self.client = client or httpx.Client(timeout=timeout_s)

    def notify(self, batch: Batch) -> None:
        body = orjson.dumps(payload(batch))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": batch.id,
            "X-Premortem-Event": batch.event.value,
        }
        if self.secret is not None:
            headers["X-Premortem-Signature"] = signature(self.secret, body)
        post(self.client, self.url, content=body, headers=headers)

    def close(self) -> None:
        self.client.close()
