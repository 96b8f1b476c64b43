"""What the alerting stages pass around: alerts, silences, feedback and delivery records.

An alert's identity is its fingerprint: a hash of its identity labels (alertname, failure mode and
scope: service, environment). Severity is a label too, but it is left out of the fingerprint because
an alert may escalate without becoming a different alert. Each firing episode of a fingerprint gets
its own alert `id`, so history keeps one row per episode.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from premortem.domain import JSON, rfc3339_ns, stable_id
from premortem.errors import IngestError

ALERTNAME = "FailureModePredicted"
IDENTITY_LABELS = ("alertname", "mode_id", "service", "environment")
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3, "page": 4}


def severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity.lower(), SEVERITY_RANK["warning"])


def fingerprint(labels: Mapping[str, str]) -> str:
    return stable_id("alert-identity", {k: labels.get(k, "") for k in IDENTITY_LABELS})


class AlertState(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class AlertEvent(StrEnum):
    """Why an alert flows past the dedup stage; notifiers are routed by event."""

    FIRING = "firing"
    UPDATED = "updated"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    RESEND = "resend"


class FeedbackKind(StrEnum):
    CONFIRMED = "confirmed"
    PREVENTED = "prevented"
    FALSE_ALARM = "false_alarm"


@dataclass(slots=True)
class Alert:
    """One firing episode of a predicted failure mode.

    `doc` holds the content (mode, lead time, mitigations, evidence, dashboard link) exactly as it
    was built, raw; renderers escape it. `event` is transient: set by the stage that changed it.
    """

    id: str
    fingerprint: str
    labels: dict[str, str]
    state: AlertState
    probability: float
    started_ns: int
    updated_ns: int
    last_seen_ns: int
    horizon_s: float
    doc: JSON = field(default_factory=dict)
    resolved_ns: int | None = None
    acknowledged: bool = False
    notified: bool = False
    event: AlertEvent | None = None
    previous_labels: dict[str, str] | None = None

    @property
    def mode_id(self) -> str:
        return self.labels.get("mode_id", "")

    @property
    def service(self) -> str:
        return self.labels.get("service", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "warning")

    def evolve(self, **changes: Any) -> Alert:
        return replace(self, **changes)

    def to_state(self) -> JSON:
        """Every field, for a checkpoint (`from_state` reads it back)."""
        return {
            "id": self.id,
            "fingerprint": self.fingerprint,
            "labels": dict(self.labels),
            "state": self.state.value,
            "probability": self.probability,
            "started_ns": self.started_ns,
            "updated_ns": self.updated_ns,
            "last_seen_ns": self.last_seen_ns,
            "horizon_s": self.horizon_s,
            "doc": dict(self.doc),
            "resolved_ns": self.resolved_ns,
            "acknowledged": self.acknowledged,
            "notified": self.notified,
            "event": self.event.value if self.event is not None else None,
            "previous_labels": self.previous_labels,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Alert:
        event = state.get("event")
        return cls(
            id=str(state["id"]),
            fingerprint=str(state["fingerprint"]),
            labels=dict(state["labels"]),
            state=AlertState(state["state"]),
            probability=float(state["probability"]),
            started_ns=int(state["started_ns"]),
            updated_ns=int(state["updated_ns"]),
            last_seen_ns=int(state["last_seen_ns"]),
            horizon_s=float(state["horizon_s"]),
            doc=dict(state.get("doc") or {}),
            resolved_ns=state.get("resolved_ns"),
            acknowledged=bool(state.get("acknowledged", False)),
            notified=bool(state.get("notified", False)),
            event=AlertEvent(event) if event is not None else None,
            previous_labels=state.get("previous_labels"),
        )

    def to_json(self) -> JSON:
        """The API's view of an alert (raw content: consumers escape when rendering)."""
        return {
            "id": self.id,
            "fingerprint": self.fingerprint,
            "state": self.state.value,
            "labels": dict(self.labels),
            "mode_id": self.mode_id,
            "service": self.service,
            "severity": self.severity,
            "probability": self.probability,
            "acknowledged": self.acknowledged,
            "started_ns": self.started_ns,
            "updated_ns": self.updated_ns,
            "resolved_ns": self.resolved_ns,
            "started_at": rfc3339_ns(self.started_ns),
            "updated_at": rfc3339_ns(self.updated_ns),
            "resolved_at": rfc3339_ns(self.resolved_ns) if self.resolved_ns else None,
            **self.doc,
        }


@dataclass(frozen=True, slots=True)
class Matcher:
    """A label matcher; regexes are anchored at both ends, as in Alertmanager."""

    name: str
    value: str
    is_regex: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise IngestError("matcher name must not be empty", pointer="/name")
        if self.is_regex:
            try:
                re.compile(self.value)
            except re.error as exc:
                raise IngestError(f"invalid regex: {exc}", pointer="/value") from exc

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.is_regex:
            return re.fullmatch(self.value, actual) is not None
        return actual == self.value

    def to_json(self) -> JSON:
        return {"name": self.name, "value": self.value, "is_regex": self.is_regex}


def all_match(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_ns: int
    ends_ns: int
    created_by: str = ""
    comment: str = ""

    def active_at(self, now_ns: int) -> bool:
        return self.starts_ns <= now_ns < self.ends_ns

    def to_json(self, now_ns: int) -> JSON:
        state = "active" if self.active_at(now_ns) else "pending"
        if now_ns >= self.ends_ns:
            state = "expired"
        return {
            "id": self.id,
            "matchers": [m.to_json() for m in self.matchers],
            "starts_ns": self.starts_ns,
            "ends_ns": self.ends_ns,
            "startsAt": rfc3339_ns(self.starts_ns),
            "endsAt": rfc3339_ns(self.ends_ns),
            "created_by": self.created_by,
            "comment": self.comment,
            "status": state,
        }


@dataclass(frozen=True, slots=True)
class Feedback:
    id: str
    alert_id: str
    kind: FeedbackKind
    time_ns: int
    comment: str = ""

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "alert_id": self.alert_id,
            "kind": self.kind.value,
            "time_ns": self.time_ns,
            "time": rfc3339_ns(self.time_ns),
            "comment": self.comment,
        }


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """The final outcome of one batch sent to one notifier route: delivered, or dead (letter)."""

    batch_id: str
    route: str
    event: str
    alert_ids: tuple[str, ...]
    status: str
    attempts: int
    time_ns: int
    error: str = ""
    payload: JSON = field(default_factory=dict)


@dataclass(slots=True)
class AlertQuery:
    state: AlertState | None = None
    mode_id: str | None = None
    service: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    limit: int = 100
    offset: int = 0

    def matches(self, alert: Alert) -> bool:
        """Time filters select alerts whose episode overlaps [since, until)."""
        if self.state is not None and alert.state != self.state:
            return False
        if self.mode_id is not None and alert.mode_id != self.mode_id:
            return False
        if self.service is not None and alert.service != self.service:
            return False
        if self.until_ns is not None and alert.started_ns >= self.until_ns:
            return False
        end = alert.resolved_ns
        return not (self.since_ns is not None and end is not None and end < self.since_ns)
