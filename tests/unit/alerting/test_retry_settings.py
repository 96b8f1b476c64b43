"""How long notifications are retried: until the alert resolves or the batch is too old; a
number of attempts caps them only when it was configured (issue 13, item 8)."""

from __future__ import annotations

import pytest

from premortem.alerting import AlertingService, MemoryAlertStore, Route
from premortem.alerting.memory import RecordingNotifier
from premortem.alerting.model import AlertEvent
from premortem.alerting.notify import DEFAULT_MAX_AGE_S, NotifyError, notify_max_age_s
from premortem.alerting.stages import Batch
from premortem.clock import ManualClock
from premortem.config import Settings
from premortem.domain import FailureMode, Prediction
from premortem.errors import ConfigError

POOL = FailureMode(id="db_pool", name="DB pool exhaustion", severity="warning")


def from_settings(**notify: object) -> AlertingService:
    settings = Settings(notify=notify)  # type: ignore[arg-type]
    return AlertingService.from_settings(settings, MemoryAlertStore(), modes=lambda _m: None)


def test_attempts_are_unlimited_unless_configured() -> None:
    assert from_settings().dispatcher.max_attempts is None
    assert from_settings(max_attempts=3).dispatcher.max_attempts == 3


def test_max_age_comes_from_the_environment() -> None:
    assert notify_max_age_s({}) == DEFAULT_MAX_AGE_S
    assert notify_max_age_s({"PREMORTEM_NOTIFY_MAX_AGE_S": "90"}) == 90.0
    for bad in ("soon", "0", "-5"):
        with pytest.raises(ConfigError, match="PREMORTEM_NOTIFY_MAX_AGE_S"):
            notify_max_age_s({"PREMORTEM_NOTIFY_MAX_AGE_S": bad})


def test_backoff_doubles_up_to_its_cap_until_the_max_age() -> None:
    sleeps: list[float] = []
    notifier = RecordingNotifier(fail_first=10**6)
    service = AlertingService(
        MemoryAlertStore(),
        routes=[Route("hook", notifier)],
        modes={"db_pool": POOL}.get,
        clock=ManualClock(0),
        backoff_s=1.0,
        max_backoff_s=8.0,
        max_age_s=60.0,
        sleep=sleeps.append,
    )
    prediction = Prediction(
        id="p", time_ns=0, mode_id="db_pool", service="api", probability=0.9, horizon_s=600
    )
    service.submit([prediction])
    service.drain()
    assert sleeps[:5] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert sum(sleeps) == pytest.approx(60.0)
    [letter] = service.store.dead_letters()
    assert "older than 60 s" in letter.error


def test_a_lost_escalation_does_not_hold_back_the_resolve() -> None:
    """The receiver saw the alert fire; only the escalation was refused, so it hears the end."""

    class RefuseEscalations(RecordingNotifier):
        def notify(self, batch: Batch) -> None:
            if batch.event is AlertEvent.ESCALATED:
                raise NotifyError("no", retryable=False)
            super().notify(batch)

    notifier = RefuseEscalations()
    service = AlertingService(
        MemoryAlertStore(),
        routes=[Route("hook", notifier)],
        modes={"db_pool": POOL}.get,
        clock=ManualClock(0),
        sleep=lambda _s: None,
    )
    for n, probability in enumerate([0.55, 0.95, 0.1]):  # fire, escalate a band, resolve
        service.submit(
            [
                Prediction(
                    id=f"p{n}",
                    time_ns=n,
                    mode_id="db_pool",
                    service="api",
                    probability=probability,
                    horizon_s=600,
                )
            ]
        )
        service.drain()
    assert [event for event, _ in notifier.events()] == ["firing", "resolved"]
