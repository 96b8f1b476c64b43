"""The pipeline's stages. Each has one method, `exec(alerts) -> alerts`, and does one thing.

    PolicyStage   proposals below threshold (with hysteresis for firing alerts) or lead time drop
    DedupStage    compares with the active alert of the same fingerprint: new, material change,
                  escalation, resolve, or nothing; keeps the state and persists transitions
    MuteStage     drops what a Muter (silences, inhibitions) mutes
    NotifyStage   groups by labels and hands batches to the dispatcher; never waits on delivery

A proposal is an Alert built from one prediction (see `proposal`), state FIRING or RESOLVED.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from premortem.alerting.content import template_keys
from premortem.alerting.model import Alert, AlertEvent, AlertState, severity_rank
from premortem.alerting.repository import AlertRepository
from premortem.clock import Clock
from premortem.domain import JSON, stable_id


class Stage(Protocol):
    def exec(self, alerts: list[Alert]) -> list[Alert]: ...


class StageChain:
    """Stages run in order; an empty list stops the run early."""

    def __init__(self, *stages: Stage) -> None:
        self.stages = stages

    def exec(self, alerts: list[Alert]) -> list[Alert]:
        for stage in self.stages:
            if not alerts:
                break
            alerts = stage.exec(alerts)
        return alerts


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True, slots=True)
class ModePolicy:
    threshold: float = 0.5
    min_lead_time_s: float = 0.0
    severity: str | None = None  # None: the failure mode's own severity


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """Per-mode thresholds. A firing alert resolves only below `threshold - hysteresis`, so a
    probability hovering at the threshold does not flap."""

    default: ModePolicy = ModePolicy()
    modes: dict[str, ModePolicy] = field(default_factory=dict)
    hysteresis: float = 0.1
    bands: tuple[float, ...] = (0.5, 0.7, 0.9)
    material_change: float = 0.1

    def for_mode(self, mode_id: str) -> ModePolicy:
        return self.modes.get(mode_id, self.default)

    def band(self, probability: float) -> int:
        return sum(probability >= b for b in self.bands)


class ActiveAlerts:
    """The firing alerts by fingerprint: the dedup stage's state, read by policy and inhibition."""

    def __init__(self, alerts: Sequence[Alert] = ()) -> None:
        self.lock = threading.RLock()
        self._by_fingerprint = {a.fingerprint: a for a in alerts}

    def get(self, fp: str) -> Alert | None:
        return self._by_fingerprint.get(fp)

    def put(self, alert: Alert) -> None:
        self._by_fingerprint[alert.fingerprint] = alert

    def pop(self, fp: str) -> None:
        self._by_fingerprint.pop(fp, None)

    def all(self) -> list[Alert]:
        return list(self._by_fingerprint.values())

    def replace(self, alerts: Sequence[Alert]) -> None:
        with self.lock:
            self._by_fingerprint = {a.fingerprint: a for a in alerts}


class PolicyStage:
    def __init__(self, policy: AlertPolicy, active: ActiveAlerts) -> None:
        self.policy = policy
        self.active = active

    def exec(self, alerts: list[Alert]) -> list[Alert]:
        kept = []
        for alert in alerts:
            rules = self.policy.for_mode(alert.mode_id)
            firing = self.active.get(alert.fingerprint) is not None
            threshold = rules.threshold - self.policy.hysteresis if firing else rules.threshold
            lead = (alert.doc.get("lead_time") or {}).get("median_s")
            early_enough = firing or lead is None or lead >= rules.min_lead_time_s
            if alert.probability >= threshold and early_enough:
                kept.append(alert)
            elif firing:
                kept.append(alert.evolve(state=AlertState.RESOLVED))
        return kept


# --------------------------------------------------------------------------- dedup


class DedupStage:
    """Fires once per fingerprint; passes on only what is worth telling someone."""

    def __init__(self, store: AlertRepository, active: ActiveAlerts, policy: AlertPolicy) -> None:
        self.store = store
        self.active = active
        self.policy = policy

    def exec(self, alerts: list[Alert]) -> list[Alert]:
        changed = []
        with self.active.lock:
            for proposal in alerts:
                current = self.active.get(proposal.fingerprint)
                result = self._merge(current, proposal)
                if result is None:
                    continue
                if result.state is AlertState.FIRING:
                    self.active.put(result)
                else:
                    self.active.pop(result.fingerprint)
                self.store.save_alert(result)
                changed.append(result)
        return changed

    def _merge(self, current: Alert | None, proposal: Alert) -> Alert | None:
        now = proposal.last_seen_ns
        if current is None:
            if proposal.state is AlertState.RESOLVED:
                return None
            # The forecast this alert stands for is the one made when it started: backtests
            # score it (premortem.evaluation), whatever the probability moves to later.
            doc = {**proposal.doc, "probability_at_start": proposal.probability}
            return proposal.evolve(doc=doc, event=AlertEvent.FIRING, notified=False)
        if proposal.state is AlertState.RESOLVED:
            # The alert keeps the probability it fired with: a resolve says the risk is gone,
            # not that it was never there.
            return current.evolve(
                state=AlertState.RESOLVED,
                resolved_ns=now,
                updated_ns=now,
                event=AlertEvent.RESOLVED,
            )
        current.last_seen_ns = max(current.last_seen_ns, now)  # keeps the evidence fresh
        current.horizon_s = proposal.horizon_s
        event = self._change(current, proposal)
        if event is None:
            return None
        return current.evolve(
            labels=proposal.labels,
            probability=proposal.probability,
            doc={
                **proposal.doc,
                "dashboard_url": current.doc.get("dashboard_url", ""),
                "probability_at_start": current.doc.get(
                    "probability_at_start", current.probability
                ),
            },
            updated_ns=now,
            event=event,
            previous_labels=current.labels if current.labels != proposal.labels else None,
        )

    def _change(self, current: Alert, proposal: Alert) -> AlertEvent | None:
        band = self.policy.band
        if severity_rank(proposal.severity) > severity_rank(current.severity) or band(
            proposal.probability
        ) > band(current.probability):
            return AlertEvent.ESCALATED
        moved = abs(proposal.probability - current.probability) >= self.policy.material_change
        if moved or template_keys(proposal.doc) - template_keys(current.doc):
            return AlertEvent.UPDATED
        if proposal.labels != current.labels:  # severity lowered: labels must follow
            return AlertEvent.UPDATED
        return None


# --------------------------------------------------------------------------- mute


class Muter(Protocol):
    """Silences and inhibitions alike: does something say these labels must stay quiet?"""

    def mutes(self, labels: dict[str, str]) -> bool: ...


class MuteStage:
    """Drops muted alerts. A muted firing alert stays un-notified (it is told later, when the mute
    lifts, by the service's tick); a resolve is only told when the firing was."""

    def __init__(self, *muters: Muter) -> None:
        self.muters = muters

    def exec(self, alerts: list[Alert]) -> list[Alert]:
        kept = []
        for alert in alerts:
            if alert.event is AlertEvent.RESOLVED:
                if alert.notified:
                    kept.append(alert)
            elif not any(m.mutes(alert.labels) for m in self.muters):
                if not alert.notified and alert.event is not AlertEvent.RESEND:
                    alert.event = AlertEvent.FIRING  # first word to the receivers is "firing"
                kept.append(alert)
        return kept


# --------------------------------------------------------------------------- notify


@dataclass(frozen=True, slots=True)
class Batch:
    """Alerts told together (one group, one event). `id` doubles as the idempotency key."""

    id: str
    event: AlertEvent
    group_key: str
    alerts: tuple[Alert, ...]
    created_ns: int

    def to_state(self) -> JSON:
        """For a checkpoint: a batch not delivered yet is delivered by whoever restores it."""
        return {
            "id": self.id,
            "event": self.event.value,
            "group_key": self.group_key,
            "alerts": [a.to_state() for a in self.alerts],
            "created_ns": self.created_ns,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Batch:
        return cls(
            str(state["id"]),
            AlertEvent(state["event"]),
            str(state["group_key"]),
            tuple(Alert.from_state(a) for a in state["alerts"]),
            int(state["created_ns"]),
        )


class NotifyStage:
    """Groups changed alerts by (event, group labels) and enqueues them; returns at once."""

    def __init__(
        self,
        enqueue: Callable[[Batch], None],
        store: AlertRepository,
        clock: Clock,
        *,
        group_by: Sequence[str] = ("mode_id", "service", "environment"),
    ) -> None:
        self.enqueue = enqueue
        self.store = store
        self.clock = clock
        self.group_by = tuple(group_by)

    def exec(self, alerts: list[Alert]) -> list[Alert]:
        for alert in alerts:
            if alert.state is AlertState.FIRING and not alert.notified:
                alert.notified = True
                self.store.save_alert(alert)
        groups: dict[tuple[AlertEvent, str], list[Alert]] = defaultdict(list)
        for alert in alerts:
            assert alert.event is not None, "alerts reach NotifyStage with an event"
            key = ",".join(f"{k}={alert.labels.get(k, '')}" for k in self.group_by)
            groups[(alert.event, key)].append(alert.evolve())  # a snapshot for the dispatcher
        now = self.clock.now_ns()
        for (event, key), members in groups.items():
            parts = [(a.id, a.updated_ns) for a in members]
            # The id says what is told (event, alerts, their state's time), not when: a worker
            # taking over the prediction role tells again, from its checkpoint, what its dead
            # predecessor may have told already, under the same Idempotency-Key. A re-send is
            # told again on purpose: its own id.
            when = (now,) if event is AlertEvent.RESEND else ()
            batch_id = stable_id("batch", event.value, key, parts, *when)
            self.enqueue(Batch(batch_id, event, key, tuple(members), now))
        return alerts
