"""The training summary lists each mode's metric and level precursors, those that act through the
injected-fault variable too (an alert cited a queue-depth metric the summary did not list)."""

from __future__ import annotations

from premortem.learn.metric_signals import signals_by_mode

THRESHOLDS = {
    "metric:queue_depth{service=janitor}": ("ms-queue", 30.0),
    "level:16#0/3": ("level:16#0/3", 77.0),
}


def test_direct_parents_and_children_of_the_fault_variable_are_listed() -> None:
    edges = [
        ("fault", "fm-queue"),
        ("fault", "metric:queue_depth{service=janitor}"),
        ("level:16#0/3", "fm-disk"),
        ("tpl:15", "fm-disk"),
    ]
    found = signals_by_mode(edges, THRESHOLDS, lambda t: f"template {t}", ["fm-disk", "fm-queue"])
    assert [(s["indicator"], s.get("via")) for s in found["fm-queue"]] == [
        ("metric:queue_depth{service=janitor}", "fault")
    ]
    assert [(s["indicator"], s["kind"]) for s in found["fm-disk"]] == [("level:16#0/3", "level")]
    assert found["fm-disk"][0]["what"] == 'number 1 of 3 in "template 16" above 77'


def test_a_fault_signal_that_does_not_raise_the_mode_is_not_its_precursor() -> None:
    edges = [("fault", "fm-queue"), ("fault", "metric:queue_depth{service=janitor}")]
    found = signals_by_mode(
        edges, THRESHOLDS, str, ["fm-queue"], raises=lambda _indicator, _mode: False
    )
    assert found == {}
