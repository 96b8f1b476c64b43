"""In-memory twins: the alert repository and a notifier, for unit tests and database-less runs."""

from __future__ import annotations

import threading
from dataclasses import replace

from premortem.alerting.model import (
    Alert,
    AlertQuery,
    AlertState,
    DeliveryRecord,
    Feedback,
    Silence,
)
from premortem.alerting.notify import NotifyError
from premortem.alerting.stages import Batch
from premortem.errors import NotFound
from premortem.ports import Page


class MemoryAlertStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._alerts: dict[str, Alert] = {}
        self._silences: dict[str, Silence] = {}
        self._feedback: list[Feedback] = []
        self._deliveries: list[DeliveryRecord] = []

    def save_alert(self, alert: Alert) -> None:
        with self._lock:
            self._alerts[alert.id] = _stored(alert)

    def get_alert(self, alert_id: str) -> Alert:
        with self._lock:
            alert = self._alerts.get(alert_id)
        if alert is None:
            raise NotFound(f"alert {alert_id} not found")
        return _stored(alert)

    def list_alerts(self, query: AlertQuery) -> Page[Alert]:
        with self._lock:
            found = [_stored(a) for a in self._alerts.values() if query.matches(a)]
        found.sort(key=lambda a: (a.started_ns, a.id), reverse=True)
        return Page(items=found[query.offset : query.offset + query.limit], total=len(found))

    def firing_alerts(self) -> list[Alert]:
        with self._lock:
            return [_stored(a) for a in self._alerts.values() if a.state is AlertState.FIRING]

    def set_acknowledged(self, alert_id: str, acknowledged: bool) -> Alert:
        alert = self.get_alert(alert_id)
        alert.acknowledged = acknowledged
        self.save_alert(alert)
        return alert

    def add_silence(self, silence: Silence) -> None:
        with self._lock:
            self._silences[silence.id] = silence

    def get_silence(self, silence_id: str) -> Silence:
        with self._lock:
            silence = self._silences.get(silence_id)
        if silence is None:
            raise NotFound(f"silence {silence_id} not found")
        return silence

    def list_silences(self, *, active_at_ns: int | None = None) -> list[Silence]:
        with self._lock:
            found = list(self._silences.values())
        if active_at_ns is not None:
            found = [s for s in found if s.active_at(active_at_ns)]
        return sorted(found, key=lambda s: (s.starts_ns, s.id), reverse=True)

    def expire_silence(self, silence_id: str, now_ns: int) -> Silence:
        silence = self.get_silence(silence_id)
        expired = replace(silence, ends_ns=min(silence.ends_ns, now_ns))
        self.add_silence(expired)
        return expired

    def add_feedback(self, feedback: Feedback) -> None:
        self.get_alert(feedback.alert_id)
        with self._lock:
            if all(f.id != feedback.id for f in self._feedback):
                self._feedback.append(feedback)

    def list_feedback(self, alert_id: str | None = None) -> list[Feedback]:
        with self._lock:
            found = [f for f in self._feedback if alert_id is None or f.alert_id == alert_id]
        return sorted(found, key=lambda f: (f.time_ns, f.id))

    def record_delivery(self, record: DeliveryRecord) -> None:
        with self._lock:
            self._deliveries.append(record)

    def list_deliveries(self, *, alert_id: str | None = None) -> list[DeliveryRecord]:
        with self._lock:
            return [r for r in self._deliveries if alert_id is None or alert_id in r.alert_ids]

    def dead_letters(self) -> list[DeliveryRecord]:
        with self._lock:
            return [r for r in self._deliveries if r.status == "dead"]


def _stored(alert: Alert) -> Alert:
    """What a database would keep: no transient fields, no shared mutable state."""
    return replace(
        alert, labels=dict(alert.labels), doc=dict(alert.doc), event=None, previous_labels=None
    )


class RecordingNotifier:
    """The Notifier twin: keeps every batch it accepts; can be told to fail first.

    `fail_first` failures are raised before the first success, retryable unless `retryable=False`.
    """

    def __init__(self, *, fail_first: int = 0, retryable: bool = True) -> None:
        self.batches: list[Batch] = []
        self.attempts = 0
        self.fail_first = fail_first
        self.retryable = retryable

    def notify(self, batch: Batch) -> None:
        self.attempts += 1
        if self.attempts <= self.fail_first:
            raise NotifyError(f"refused attempt {self.attempts}", retryable=self.retryable)
        self.batches.append(batch)

    def events(self) -> list[tuple[str, str]]:
        """(event, alert id) per alert told, in order."""
        return [(b.event.value, a.id) for b in self.batches for a in b.alerts]
