"""Shared builders for the alerting unit tests: in-memory twins and a ManualClock, no I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from premortem.alerting import AlertingService, MemoryAlertStore, Route
from premortem.alerting.memory import RecordingNotifier
from premortem.alerting.notify import ALERT_EVENTS, ALL_EVENTS
from premortem.clock import ManualClock
from premortem.domain import FailureMode, Mitigation, Prediction, Trigger, TriggerKind

T0 = 1_700_000_000_000_000_000

POOL = FailureMode(
    id="db_pool",
    name="DB pool exhaustion",
    severity="warning",
    service="checkout",
    triggers=[
        Trigger(kind=TriggerKind.LOG_PATTERN, description="slow acquire", lead_times_s=[300, 600]),
        Trigger(kind=TriggerKind.LOAD_CONDITION, description="load", lead_times_s=[900]),
    ],
    mitigations=[Mitigation(action="Raise pool size to 50"), Mitigation(action="Shed batch jobs")],
)
DISK = FailureMode(id="disk_full", name="Disk full", severity="critical", service="checkout")


@dataclass
class Rig:
    service: AlertingService
    store: MemoryAlertStore
    clock: ManualClock
    webhook: RecordingNotifier
    alertmanager: RecordingNotifier

    def predict(self, probability: float, *, mode: str = "db_pool", **extra: Any) -> Prediction:
        now = self.clock.now_ns()
        evidence = extra.pop("evidence", {})
        return Prediction(
            id=f"p-{mode}-{now}-{probability}",
            time_ns=now,
            mode_id=mode,
            service=extra.pop("service", "checkout"),
            probability=probability,
            horizon_s=extra.pop("horizon_s", 600),
            lead_time_s=extra.pop("lead_time_s", None),
            evidence=evidence,
        )

    def submit(self, probability: float, **extra: Any) -> None:
        self.service.submit([self.predict(probability, **extra)])
        self.service.drain()


@pytest.fixture
def make_rig() -> Callable[..., Rig]:
    def make(**options: Any) -> Rig:
        store = MemoryAlertStore()
        clock = ManualClock(T0)
        webhook, alertmanager = RecordingNotifier(), RecordingNotifier()
        modes = {m.id: m for m in (POOL, DISK)}
        service = AlertingService(
            store,
            routes=[
                Route("webhook", webhook, ALERT_EVENTS),
                Route("alertmanager", alertmanager, ALL_EVENTS),
            ],
            modes=modes.get,
            clock=clock,
            public_url="https://premortem.example",
            sleep=lambda _s: None,
            resend_interval_s=60,
            **options,
        )
        return Rig(service, store, clock, webhook, alertmanager)

    return make


@pytest.fixture
def rig(make_rig: Callable[..., Rig]) -> Rig:
    return make_rig()


@pytest.fixture
def pool_mode() -> FailureMode:
    return POOL
