"""The role the alerting stages keep their state behind (Drain3's habit: the algorithm never knows
where its state lives). `MemoryAlertStore` is the twin; `AlertStore` the SQL implementation; one
conformance suite (tests/integration/test_alert_store.py) runs against both."""

from __future__ import annotations

from typing import Protocol

from premortem.alerting.model import Alert, AlertQuery, DeliveryRecord, Feedback, Silence
from premortem.ports import Page


class AlertRepository(Protocol):
    def save_alert(self, alert: Alert) -> None:
        """Insert or replace by `alert.id` (idempotent)."""
        ...

    def get_alert(self, alert_id: str) -> Alert:
        """Raises NotFound."""
        ...

    def list_alerts(self, query: AlertQuery) -> Page[Alert]:
        """Newest first (by started_ns, then id)."""
        ...

    def firing_alerts(self) -> list[Alert]: ...

    def set_acknowledged(self, alert_id: str, acknowledged: bool) -> Alert: ...

    def add_silence(self, silence: Silence) -> None: ...

    def get_silence(self, silence_id: str) -> Silence: ...

    def list_silences(self, *, active_at_ns: int | None = None) -> list[Silence]:
        """All silences (newest first), or only those active at `active_at_ns`."""
        ...

    def expire_silence(self, silence_id: str, now_ns: int) -> Silence:
        """Ends the silence now (an already ended silence keeps its end). Raises NotFound."""
        ...

    def add_feedback(self, feedback: Feedback) -> None:
        """Raises NotFound when the alert does not exist."""
        ...

    def list_feedback(self, alert_id: str | None = None) -> list[Feedback]:
        """Oldest first."""
        ...

    def record_delivery(self, record: DeliveryRecord) -> None:
        """Logs a notification outcome; a record with status "dead" is also a dead letter."""
        ...

    def list_deliveries(self, *, alert_id: str | None = None) -> list[DeliveryRecord]: ...

    def dead_letters(self) -> list[DeliveryRecord]: ...
