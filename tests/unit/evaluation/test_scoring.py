"""The one scorer's right alert: from the fault to the onset of a failed window. An alert
carried over from the run before (counted at the window's start) or raised before the fault is
a wrong one, and gives the run no lead time — in the metrics and in a suite's per-run details."""

from __future__ import annotations

from premortem.evaluation.scoring import NS, Alerts, RunOutcome, lead_s, score

START = 1_700_000_000 * NS


def _failed_run(alerts: list[tuple[int, str]]) -> RunOutcome:
    """Fault 20 s into the run, failure 80 s in."""
    return RunOutcome(
        "run-16",
        failed=True,
        faulty=True,
        kind="memory",
        onset_ns=START + 80 * NS,
        fault_ns=START + 20 * NS,
        model=Alerts(alerts, [(t, k, 0.9) for t, k in alerts]),
        baseline=Alerts(),
    )


def test_an_alert_carried_over_from_the_run_before_is_no_early_warning() -> None:
    carried = _failed_run([(START, "memory")])  # still firing when the run began
    assert lead_s(carried) is None
    report = score([carried], "model")
    assert report["counts"]["right_alerts"] == 0 and report["counts"]["wrong_alerts"] == 1
    assert report["median_lead_s"] is None


def test_the_lead_is_the_first_alert_after_the_fault() -> None:
    both = _failed_run([(START, "memory"), (START + 45 * NS, "memory")])
    assert lead_s(both) == 35.0
    report = score([both], "model")
    assert report["lead_times_s"] == [35.0]
    assert report["counts"]["right_alerts"] == 1 and report["counts"]["wrong_alerts"] == 1


def test_a_passing_run_has_no_lead() -> None:
    passing = RunOutcome("run-17", False, False, None, None, None, Alerts([(START, "m")]), Alerts())
    assert lead_s(passing) is None
