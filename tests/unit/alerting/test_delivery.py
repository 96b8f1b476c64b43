"""Dispatcher retries and dead letters; the two notifiers' wire format (httpx MockTransport)."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

import httpx
import orjson
import pytest

from premortem.alerting import AlertingService, MemoryAlertStore, NotifyError, Route
from premortem.alerting.alertmanager import AlertmanagerNotifier
from premortem.alerting.memory import RecordingNotifier
from premortem.alerting.transport import post
from premortem.alerting.webhook import WebhookNotifier
from premortem.clock import ManualClock

if TYPE_CHECKING:
    from tests.unit.alerting.conftest import Rig

T0 = 1_700_000_000_000_000_000


def service_with(
    notifier: RecordingNotifier, sleeps: list[float]
) -> tuple[AlertingService, MemoryAlertStore]:
    store = MemoryAlertStore()
    service = AlertingService(
        store,
        routes=[Route("hook", notifier)],
        modes=lambda _m: None,
        clock=ManualClock(T0),
        max_attempts=4,
        backoff_s=0.5,
        sleep=sleeps.append,
    )
    return service, store


def test_retryable_failures_are_retried_with_backoff(rig: Rig) -> None:
    sleeps: list[float] = []
    notifier = RecordingNotifier(fail_first=2)
    service, store = service_with(notifier, sleeps)
    service.submit([rig.predict(0.9)])
    service.drain()
    assert len(notifier.batches) == 1 and notifier.attempts == 3
    assert sleeps == [0.5, 1.0]
    [record] = store.list_deliveries()
    assert record.status == "delivered" and record.attempts == 3


def test_last_failure_leaves_a_dead_letter(rig: Rig) -> None:
    sleeps: list[float] = []
    notifier = RecordingNotifier(fail_first=10)
    service, store = service_with(notifier, sleeps)
    service.submit([rig.predict(0.9)])
    service.drain()
    assert notifier.attempts == 4 and sleeps == [0.5, 1.0, 2.0]
    [letter] = store.dead_letters()
    assert letter.attempts == 4 and "refused" in letter.error
    assert letter.payload["alerts"][0]["mode_id"] == "db_pool"


def test_non_retryable_failure_is_dead_at_once(rig: Rig) -> None:
    notifier = RecordingNotifier(fail_first=10, retryable=False)
    service, store = service_with(notifier, [])
    service.submit([rig.predict(0.9)])
    service.drain()
    assert notifier.attempts == 1 and len(store.dead_letters()) == 1


def test_background_dispatcher_delivers_and_stops(rig: Rig) -> None:
    notifier = RecordingNotifier()
    service, _ = service_with(notifier, [])
    service.start()
    service.submit([rig.predict(0.9)])
    service.stop(timeout_s=5)
    assert len(notifier.batches) == 1


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (429, True), (400, False), (404, False)]
)
def test_http_status_classification(status: int, retryable: bool) -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda _r: httpx.Response(status)))
    with pytest.raises(NotifyError) as caught:
        post(client, "http://receiver/", content=b"{}", headers={})
    assert caught.value.retryable is retryable


def test_connection_errors_are_retryable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.Client(transport=httpx.MockTransport(refuse))
    with pytest.raises(NotifyError) as caught:
        post(client, "http://receiver/", content=b"{}", headers={})
    assert caught.value.retryable


def capture() -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def test_webhook_payload_signature_and_idempotency_key(rig: Rig) -> None:
    client, seen = capture()
    rig.submit(
        0.8,
        evidence={
            "templates": [
                {"template_id": 7, "template": "acquire <*>", "samples": ["<b>evil</b>\x1b[2J"]}
            ]
        },
    )
    batch = rig.webhook.batches[0]
    WebhookNotifier("http://receiver/hook", secret="s3cret", client=client).notify(batch)
    WebhookNotifier("http://receiver/hook", secret="s3cret", client=client).notify(batch)
    first, retry = seen
    body = first.content
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert first.headers["X-Premortem-Signature"] == expected
    assert first.headers["Idempotency-Key"] == retry.headers["Idempotency-Key"] == batch.id
    payload = orjson.loads(body)
    assert payload["event"] == "firing" and payload["status"] == "firing"
    [alert] = payload["alerts"]
    assert alert["mode"] == {
        "id": "db_pool",
        "name": "DB pool exhaustion",
        "severity": "warning",
        "description": "",
    }
    assert alert["evidence"]["templates"][0]["samples"] == ["<b>evil</b>\x1b[2J"], "raw in JSON"
    assert "\x1b" not in alert["text"] and "\\x1b[2J" in alert["text"], "escaped as text"
    assert alert["dashboard_url"] == f"https://premortem.example/alerts/{alert['id']}"


def test_webhook_without_secret_sends_no_signature(rig: Rig) -> None:
    client, seen = capture()
    rig.submit(0.8)
    WebhookNotifier("http://receiver/hook", client=client).notify(rig.webhook.batches[0])
    assert "X-Premortem-Signature" not in seen[0].headers


def test_alertmanager_postable_alerts(rig: Rig) -> None:
    client, seen = capture()
    notifier = AlertmanagerNotifier("http://am:9093/", resend_interval_s=60, client=client)
    rig.submit(0.8)
    rig.submit(0.1)
    for batch in rig.alertmanager.batches:
        notifier.notify(batch)
    assert [str(r.url) for r in seen] == ["http://am:9093/api/v2/alerts"] * 2
    [firing] = orjson.loads(seen[0].content)
    [resolved] = orjson.loads(seen[1].content)
    assert firing["labels"] == {
        "alertname": "FailureModePredicted",
        "failure_mode": "DB pool exhaustion",
        "mode_id": "db_pool",
        "service": "checkout",
        "environment": "",
        "severity": "warning",
    }
    assert set(firing["annotations"]) >= {
        "summary",
        "probability",
        "lead_time",
        "mitigation",
        "dashboard",
    }
    assert firing["annotations"]["probability"] == "0.80"
    assert firing["annotations"]["lead_time"] == "8m (range 5m-10m)"  # the log triggers only
    assert firing["annotations"]["mitigation"] == "Raise pool size to 50; Shed batch jobs"
    assert firing["endsAt"] > firing["startsAt"]
    assert resolved["endsAt"] == resolved["startsAt"], "resolved in the same instant (ManualClock)"
    assert firing["generatorURL"].startswith("https://premortem.example/alerts/")
