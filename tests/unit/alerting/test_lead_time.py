"""The lead time an alert promises is that of the precursors that fired, not of the fault.

A trial on an unseen system: its backlog alerts said "expected lead time 46 s (11–61 s, 12
observations)" and came 13 s ahead — the figure pooled every trigger's lead, the fault's
injection (never seen live) included.
"""

from __future__ import annotations

from premortem.alerting.content import lead_time_summary
from premortem.domain import FailureMode, Prediction, Trigger, TriggerKind

MODE = FailureMode(
    id="fm-backlog",
    name="ticketing: queue full",
    triggers=[
        Trigger(kind=TriggerKind.FAULT_CONDITION, description="fault consumer_slow",
                condition={"fault_type": "consumer_slow"}, lead_times_s=[49, 60, 61]),
        Trigger(kind=TriggerKind.LOG_PATTERN, description="queue nearly full",
                condition={"template_id": 12}, lead_times_s=[13, 12, 14]),
        Trigger(kind=TriggerKind.LOG_PATTERN, description="slow handler",
                condition={"template_id": 9}, lead_times_s=[46, 40]),
    ],
)  # fmt: skip


def _prediction(template_ids: list[int]) -> Prediction:
    return Prediction(
        id="p", time_ns=0, mode_id=MODE.id, probability=0.9, horizon_s=300,
        evidence={"template_ids": template_ids},
    )  # fmt: skip


def test_the_lead_of_the_templates_that_fired() -> None:
    summary = lead_time_summary(MODE, _prediction([12]))
    assert summary == {"median_s": 13.0, "min_s": 12.0, "max_s": 14.0, "observations": 3}


def test_without_a_fired_trigger_every_trigger_seen_live_but_never_the_fault() -> None:
    summary = lead_time_summary(MODE, _prediction([]))
    assert summary is not None
    assert summary["max_s"] == 46.0 and summary["observations"] == 5
