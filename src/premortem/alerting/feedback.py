"""Operator feedback on alerts, turned into labels for the correlation engine (`premortem train`).

confirmed     the failure happened: a true positive
prevented     someone acted on the alert and the failure did not happen: also a true
              positive (the prediction was right; the mitigation worked), never a false alarm
false_alarm   nothing was wrong: a false positive
"""

from __future__ import annotations

from premortem.alerting.model import FeedbackKind
from premortem.alerting.repository import AlertRepository


def feedback_for_training(store: AlertRepository) -> list[tuple[str, int, str]]:
    """(mode_id, time_ns, kind) per alert with feedback: the latest word on each alert counts.

    `time_ns` is when the alert started (when the prediction said the failure was coming), so the
    training set can line the label up with the windows that produced the prediction.
    """
    latest: dict[str, FeedbackKind] = {}
    for feedback in store.list_feedback():  # oldest first: later feedback overrides
        latest[feedback.alert_id] = feedback.kind
    labelled = []
    for alert_id, kind in latest.items():
        alert = store.get_alert(alert_id)
        labelled.append((alert.mode_id, alert.started_ns, kind.value))
    return sorted(labelled, key=lambda item: (item[1], item[0]))


def is_false_positive(kind: str) -> bool:
    """Only `false_alarm` counts against a predictor; `prevented` is a success."""
    return kind == FeedbackKind.FALSE_ALARM.value


def is_true_positive(kind: str) -> bool:
    return kind in (FeedbackKind.CONFIRMED.value, FeedbackKind.PREVENTED.value)
