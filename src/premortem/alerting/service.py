"""AlertingService: predictions in, alerts out; the one object the server and worker hold.

    service = AlertingService.from_settings(settings, AlertStore(engine), modes=lookup)
    service.start()                      # dispatcher threads + ticker (expiry, resend, unmute)
    service.submit(predictions)          # returns as soon as the alert state is stored
    service.stop()                       # delivers what is queued (bounded), then stops

`submit` never waits on a notifier: notifications are queued and delivered by the dispatcher.

Time: `clock` dates silences, feedback and notification batches. An alert expires on the stream
time of the source whose records made its predictions (`submit(..., source=)`, read through
`stream_time(source)`), so one source's newer logs never resolve another source's alert.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

import orjson

from premortem.alerting.alertmanager import AlertmanagerNotifier
from premortem.alerting.content import build_content
from premortem.alerting.model import (
    ALERTNAME,
    Alert,
    AlertEvent,
    AlertQuery,
    AlertState,
    Feedback,
    FeedbackKind,
    Matcher,
    Silence,
    fingerprint,
)
from premortem.alerting.mute import Inhibitor, InhibitRule, Silencer
from premortem.alerting.notify import (
    ALL_EVENTS,
    DEFAULT_MAX_AGE_S,
    Dispatcher,
    Route,
    notify_max_age_s,
)
from premortem.alerting.repository import AlertRepository
from premortem.alerting.stages import (
    ActiveAlerts,
    AlertPolicy,
    Batch,
    DedupStage,
    MuteStage,
    NotifyStage,
    PolicyStage,
    StageChain,
)
from premortem.alerting.webhook import WebhookNotifier
from premortem.clock import Clock, SystemClock
from premortem.config import Settings
from premortem.domain import FailureMode, Prediction, stable_id
from premortem.errors import IngestError
from premortem.ports import Page

ModeLookup = Callable[[str], FailureMode | None]
StreamTime = Callable[[str], int]  # a source's stream time; 0 when the source is unknown


class AlertingService:
    def __init__(
        self,
        store: AlertRepository,
        *,
        routes: Sequence[Route],
        modes: ModeLookup,
        clock: Clock,
        policy: AlertPolicy | None = None,
        inhibit_rules: Sequence[InhibitRule] = (),
        public_url: str = "http://127.0.0.1:8080",
        environment: str = "",
        resend_interval_s: float = 60.0,
        max_attempts: int | None = None,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        sleep: Callable[[float], None] | None = None,
        tick_interval_s: float = 1.0,
        stream_time: StreamTime | None = None,
    ) -> None:
        self.store = store
        self.modes = modes
        self.clock = clock
        self.stream_time = stream_time
        self.policy = policy or AlertPolicy()
        self._inhibit_rules = tuple(inhibit_rules)
        self._sources: dict[str, str] = {}  # fingerprint -> source of its latest prediction
        self.public_url = public_url.rstrip("/")
        self.environment = environment
        self.resend_ns = int(resend_interval_s * 1e9)
        self.tick_interval_s = tick_interval_s
        self.active = ActiveAlerts(store.firing_alerts())
        self.dispatcher = Dispatcher(
            routes,
            store,
            clock,
            max_attempts=max_attempts,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            max_age_s=max_age_s,
            sleep=sleep,
        )
        self.silencer = Silencer(store, clock)
        self._assemble(inhibit_rules)
        self._lock = threading.RLock()
        self._last_sent: dict[str, int] = {}
        self._ticker: threading.Thread | None = None
        self._stop_ticker = threading.Event()

    def _assemble(self, inhibit_rules: Sequence[InhibitRule]) -> None:
        """The pipeline, in the order an alert meets its stages."""
        policy = PolicyStage(self.policy, self.active)
        dedup = DedupStage(self.store, self.active, self.policy)
        mute = MuteStage(self.silencer, Inhibitor(inhibit_rules, self.active))
        notify = NotifyStage(self._enqueue, self.store, self.clock)
        self.pipeline = StageChain(policy, dedup, mute, notify)  # predictions
        self.expiry = StageChain(dedup, mute, notify)  # evidence cleared
        self.reminders = StageChain(mute, notify)  # unmuted, resend

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        store: AlertRepository,
        *,
        modes: ModeLookup,
        clock: Clock | None = None,
        **options: object,
    ) -> AlertingService:
        """Routes from `settings.notify`; `options` pass on to the constructor (policy, ...)."""
        notify = settings.notify
        routes: list[Route] = []
        if notify.alertmanager_url:
            notifier = AlertmanagerNotifier(
                notify.alertmanager_url, resend_interval_s=notify.resend_interval_s
            )
            routes.append(Route("alertmanager", notifier, ALL_EVENTS))
        secret = notify.webhook_secret.get_secret_value() if notify.webhook_secret else None
        for index, url in enumerate(notify.webhook_urls):
            routes.append(Route(f"webhook-{index}", WebhookNotifier(url, secret=secret)))
        public_url = settings.public_url or f"http://{settings.bind_host}:{settings.port}"
        return cls(
            store,
            routes=routes,
            modes=modes,
            clock=clock or SystemClock(),
            public_url=public_url,
            resend_interval_s=notify.resend_interval_s,
            # Retries run until the alert resolves or the batch is too old; a number of
            # attempts caps them only when it was configured explicitly.
            max_attempts=notify.max_attempts,
            backoff_s=notify.backoff_s,
            max_age_s=notify_max_age_s(),
            **options,  # type: ignore[arg-type]
        )

    # ----------------------------------------------------------------------- the flow

    def submit(
        self, predictions: Sequence[Prediction], *, source: str | None = None
    ) -> list[Alert]:
        """Runs predictions through the pipeline; returns the alerts that were told about.

        `source` is the stream the predictions were made on (the records' service): the alerts
        they keep alive expire on that source's stream time. A prediction whose evidence says
        `closes` (see learn/predictor.py) resolves its alert."""
        told: list[Alert] = []
        with self._lock:
            # One at a time through every stage, each proposal made when its turn comes: a
            # prediction and its close can come in one batch (a failure logged in the same
            # shipper batch as its warning, a replay), and so can the close and the next
            # incident's prediction. The close must meet the alert as the prediction left it —
            # firing and told — and the next prediction the alert as the close left it:
            # resolved, so that it starts a new alert instead of firing the old one again.
            for prediction in predictions:
                proposal = self._proposal(prediction)
                if prediction.closing:
                    # Its evidence expired, or the failure it warned of came: the alert
                    # resolves, whatever the hysteresis would say.
                    proposal = proposal.evolve(state=AlertState.RESOLVED)
                if source is not None:
                    self._sources[proposal.fingerprint] = source
                told += self.pipeline.exec([proposal])
        return told

    def reload_firing(self) -> None:
        """Take the firing alerts from the store: what another process (a worker that held the
        prediction role before this one) fired and told is known, and is not told again."""
        with self._lock:
            self.active.replace(self.store.firing_alerts())

    def snapshot(self) -> bytes:
        """The firing alerts and the notifications not delivered yet, for a checkpoint taken with
        the predictor's: a process resuming from both tells what this one had not told yet, and
        what it tells again (the records after the checkpoint, analysed again) carries the same
        batch id, the receivers' Idempotency-Key."""
        with self._lock:
            state = {
                "active": [a.to_state() for a in self.active.all()],
                "undelivered": {
                    route: [b.to_state() for b in batches]
                    for route, batches in self.dispatcher.undelivered().items()
                },
                "sources": self._sources,
            }
            return orjson.dumps(state)

    def restore(self, snapshot: bytes) -> None:
        """Go on from `snapshot` (see `snapshot`): its firing alerts, its undelivered batches
        queued again on their routes."""
        state = orjson.loads(snapshot)
        with self._lock:
            self.active.replace([Alert.from_state(a) for a in state["active"]])
            self._sources = dict(state.get("sources", {}))
            undelivered = {
                route: [Batch.from_state(b) for b in batches]
                for route, batches in state.get("undelivered", {}).items()
            }
            self.dispatcher.requeue(undelivered)

    def use_threshold(self, threshold: float) -> None:
        """The default alert threshold from now on (the model's learned one, or the setting);
        per-mode policies keep theirs, and a firing alert still resolves with hysteresis."""
        with self._lock:
            default = replace(self.policy.default, threshold=threshold)
            self.policy = replace(self.policy, default=default)
            self._assemble(self._inhibit_rules)

    def tick(self) -> list[Alert]:
        """Time-driven work: resolve alerts whose evidence cleared (no prediction for the mode
        within its horizon, on its source's stream time), tell alerts whose mute lifted,
        re-send firing alerts."""
        now = self.clock.now_ns()
        with self._lock:
            stale = []
            for alert in self.active.all():
                seen_now = self._now_for(alert, now)
                if seen_now - alert.last_seen_ns > alert.horizon_s * 1e9:
                    stale.append(alert.evolve(state=AlertState.RESOLVED, last_seen_ns=seen_now))
            for alert in stale:
                self._sources.pop(alert.fingerprint, None)
            told = self.expiry.exec(stale)
            due = [a for a in self.active.all() if self._due(a, now)]
            for alert in due:
                alert.event = AlertEvent.FIRING if not alert.notified else AlertEvent.RESEND
            return told + self.reminders.exec(due)

    def _now_for(self, alert: Alert, now: int) -> int:
        """Stream time of the alert's source: the source of its latest prediction, else (after a
        restart) its service label's; `now` when neither is known or no stream time is kept."""
        if self.stream_time is None:
            return now
        for source in (self._sources.get(alert.fingerprint), alert.labels.get("service")):
            if source is not None:
                source_now = self.stream_time(source)
                if source_now:
                    return source_now
        return now

    def _due(self, alert: Alert, now: int) -> bool:
        if not alert.notified:
            return True
        wants_resend = any(AlertEvent.RESEND in r.events for r in self.dispatcher.routes)
        return wants_resend and now - self._last_sent.get(alert.fingerprint, 0) >= self.resend_ns

    def _enqueue(self, batch: Batch) -> None:
        for alert in batch.alerts:
            self._last_sent[alert.fingerprint] = batch.created_ns
        self.dispatcher.enqueue(batch)

    def _proposal(self, prediction: Prediction) -> Alert:
        mode = self.modes(prediction.mode_id)
        rules = self.policy.for_mode(prediction.mode_id)
        severity = rules.severity or (mode.severity if mode else "warning")
        environment = str(prediction.evidence.get("environment") or self.environment)
        labels = {
            "alertname": ALERTNAME,
            "failure_mode": mode.name if mode else prediction.mode_id,
            "mode_id": prediction.mode_id,
            "service": prediction.service or (mode.service if mode else ""),
            "environment": environment,
            "severity": severity,
        }
        fp = fingerprint(labels)
        current = self.active.get(fp)
        alert_id = current.id if current else stable_id("alert", fp, prediction.time_ns)
        doc = build_content(
            prediction,
            mode,
            severity=severity,
            dashboard_url=f"{self.public_url}/alerts/{alert_id}",
        )
        return Alert(
            id=alert_id,
            fingerprint=fp,
            labels=labels,
            state=AlertState.FIRING,
            probability=prediction.probability,
            started_ns=current.started_ns if current else prediction.time_ns,
            updated_ns=prediction.time_ns,
            last_seen_ns=prediction.time_ns,
            horizon_s=prediction.horizon_s,
            doc=doc,
        )

    # ----------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self.dispatcher.start()
        if self._ticker is None:
            self._stop_ticker.clear()
            self._ticker = threading.Thread(
                target=self._tick_loop, name="alert-ticker", daemon=True
            )
            self._ticker.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop_ticker.set()
        if self._ticker is not None:
            self._ticker.join(timeout_s)
            self._ticker = None
        self.dispatcher.stop(timeout_s)

    def drain(self) -> None:
        self.dispatcher.drain()

    def _tick_loop(self) -> None:
        while not self._stop_ticker.wait(self.tick_interval_s):
            self.tick()

    # ----------------------------------------------------------------------- API operations

    def list_alerts(self, query: AlertQuery) -> Page[Alert]:
        return self.store.list_alerts(query)

    def get_alert(self, alert_id: str) -> Alert:
        return self.store.get_alert(alert_id)

    def acknowledge(self, alert_id: str, acknowledged: bool = True) -> Alert:
        with self._lock:
            alert = self.store.set_acknowledged(alert_id, acknowledged)
            current = self.active.get(alert.fingerprint)
            if current is not None and current.id == alert_id:
                current.acknowledged = acknowledged
            return alert

    def add_silence(
        self,
        matchers: Sequence[Matcher],
        *,
        starts_ns: int | None = None,
        ends_ns: int,
        created_by: str = "",
        comment: str = "",
    ) -> Silence:
        if not matchers:
            raise IngestError("a silence needs at least one matcher", pointer="/matchers")
        now = self.clock.now_ns()
        starts = now if starts_ns is None else starts_ns
        if ends_ns <= starts:
            raise IngestError("endsAt must be after startsAt", pointer="/endsAt")
        silence_id = stable_id("silence", [m.to_json() for m in matchers], starts, ends_ns, now)
        silence = Silence(silence_id, tuple(matchers), starts, ends_ns, created_by, comment)
        self.store.add_silence(silence)
        self.silencer.invalidate()
        return silence

    def list_silences(self, *, active_only: bool = False) -> list[Silence]:
        at = self.clock.now_ns() if active_only else None
        return self.store.list_silences(active_at_ns=at)

    def expire_silence(self, silence_id: str) -> Silence:
        silence = self.store.expire_silence(silence_id, self.clock.now_ns())
        self.silencer.invalidate()
        return silence

    def feedback_on(self, alert_id: str) -> list[Feedback]:
        return self.store.list_feedback(alert_id)

    def add_feedback(self, alert_id: str, kind: FeedbackKind, comment: str = "") -> Feedback:
        now = self.clock.now_ns()
        feedback = Feedback(
            stable_id("feedback", alert_id, kind.value, now), alert_id, kind, now, comment
        )
        self.store.add_feedback(feedback)
        return feedback
