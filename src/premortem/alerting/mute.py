"""The two Muters: silences (an operator said so, for a while) and inhibitions (a worse alert on the
same scope is already firing, so the lesser one would only add noise)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from premortem.alerting.model import Alert, Matcher, Silence, all_match, fingerprint
from premortem.alerting.repository import AlertRepository
from premortem.alerting.stages import ActiveAlerts
from premortem.clock import Clock


class Silencer:
    """Mutes labels matched by an active silence. Silences are cached for `refresh_s` (another
    process may add one through the API); `invalidate()` makes a local change visible at once."""

    def __init__(self, store: AlertRepository, clock: Clock, *, refresh_s: float = 5.0) -> None:
        self.store = store
        self.clock = clock
        self.refresh_ns = int(refresh_s * 1e9)
        self._lock = threading.Lock()
        self._cache: list[Silence] = []
        self._loaded_ns: int | None = None

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_ns = None

    def mutes(self, labels: dict[str, str]) -> bool:
        now = self.clock.now_ns()
        return any(s.active_at(now) and all_match(s.matchers, labels) for s in self._silences(now))

    def _silences(self, now: int) -> list[Silence]:
        with self._lock:
            stale = self._loaded_ns is None or now - self._loaded_ns >= self.refresh_ns
            if stale or now < (self._loaded_ns or 0):
                # Everything not yet ended; whether it has started is checked per call.
                self._cache = [s for s in self.store.list_silences() if s.ends_ns > now]
                self._loaded_ns = now
            return self._cache


@dataclass(frozen=True, slots=True)
class InhibitRule:
    """While an alert matching `source` fires, alerts matching `target` with the same values of the
    `equal` labels are muted."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ("service", "environment")


CRITICAL_INHIBITS_LESSER = InhibitRule(
    source=(Matcher("severity", "critical|page", is_regex=True),),
    target=(Matcher("severity", "info|warning", is_regex=True),),
)


class Inhibitor:
    def __init__(self, rules: Sequence[InhibitRule], active: ActiveAlerts) -> None:
        self.rules = tuple(rules)
        self.active = active

    def mutes(self, labels: dict[str, str]) -> bool:
        if not self.rules:
            return False
        firing = self.active.all()
        return any(self._inhibited(rule, labels, firing) for rule in self.rules)

    @staticmethod
    def _inhibited(rule: InhibitRule, labels: dict[str, str], firing: list[Alert]) -> bool:
        if not all_match(rule.target, labels):
            return False
        own = fingerprint(labels)
        for alert in firing:
            source = alert.labels
            if alert.fingerprint == own:
                continue  # an alert never inhibits itself
            if all_match(rule.source, source) and all(
                source.get(k, "") == labels.get(k, "") for k in rule.equal
            ):
                return True
        return False
