"""Proactive alerting: predictions in → policy → dedup/group → silence/inhibit → notify.

See docs/alerting.md. The entry point is `AlertingService`; the stages live in `stages.py`, the
notifiers behind the `Notifier` port in `alertmanager.py` and `webhook.py`.
"""

from premortem.alerting.feedback import feedback_for_training
from premortem.alerting.memory import MemoryAlertStore
from premortem.alerting.model import (
    Alert,
    AlertEvent,
    AlertQuery,
    AlertState,
    Feedback,
    FeedbackKind,
    Matcher,
    Silence,
)
from premortem.alerting.mute import InhibitRule
from premortem.alerting.notify import Notifier, NotifyError, Route
from premortem.alerting.repository import AlertRepository
from premortem.alerting.service import AlertingService
from premortem.alerting.stages import AlertPolicy, Batch, ModePolicy

__all__ = [
    "Alert",
    "AlertEvent",
    "AlertPolicy",
    "AlertQuery",
    "AlertRepository",
    "AlertState",
    "AlertingService",
    "Batch",
    "Feedback",
    "FeedbackKind",
    "InhibitRule",
    "Matcher",
    "MemoryAlertStore",
    "ModePolicy",
    "Notifier",
    "NotifyError",
    "Route",
    "Silence",
    "feedback_for_training",
]
