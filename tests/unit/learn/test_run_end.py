"""A test run's end ends its incident live: what its lines warned of does not carry into the next
run (training never takes one run's lines for the next run's precursors)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from premortem.clock import ManualClock
from premortem.domain import LogRecord, TestRun, datetime_to_ns
from premortem.learn import OnlinePredictor, TrainedModel
from premortem.learn.predictor import RUN_ENDED
from premortem.learn.run_end import RunEnd
from premortem.runtime.training import run_windows_ns

from .native_suite import FAULT_S, RUN_S, START

S = 1_000_000_000


def _harmless_run(
    recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]],
) -> tuple[list[LogRecord], int]:
    """A run after the suite whose fault warns (the lock waits of a failing run) until the run
    ends and is rolled back, without a failure: a harmless fault, or one whose failure only the
    test's probe saw. Its lines, and its end."""
    _, records, _ = recorded
    warning = next(r for r in records if r.service == "db" and r.severity_number >= 13)
    begin = datetime_to_ns(START + timedelta(seconds=12 * RUN_S))
    lines = [
        replace(warning, time_ns=begin + second * S, id=f"harmless-{second}")
        for second in range(FAULT_S, RUN_S, 2)
    ]
    return lines, begin + RUN_S * S


def _quiet_run(begin: int) -> list[LogRecord]:
    return [
        LogRecord(begin + second * S, "checkpoint complete: wrote 12 buffers", "db", 9, "INFO")
        for second in range(0, RUN_S, 3)
    ]


def test_an_alert_closes_when_its_run_ends_and_the_next_run_starts_clean(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    harmless, end = _harmless_run(recorded)
    after = _quiet_run(end)

    def replay(*, told: bool) -> list[tuple[int, bool, str]]:
        predictor = OnlinePredictor(model, ManualClock())
        if told:
            predictor.end_runs([RunEnd(end, "harmless")])
        said = predictor.observe(harmless) + predictor.observe(after)
        return [(p.time_ns, p.closing, str(p.evidence.get("closes", ""))) for p in said]

    carried = replay(told=False)
    assert carried and not carried[0][1], "the run's warnings alert"
    closes = [t for t, closing, _ in carried if closing]
    assert not closes or closes[0] > end, "without its end the alert fires on into the next run"

    ended = replay(told=True)
    opened = [t for t, closing, _ in ended if not closing]
    closed = [(t, why) for t, closing, why in ended if closing]
    assert opened and max(opened) < end
    assert closed == [(end, RUN_ENDED)], "the alert resolves at the run's end"


def test_a_run_reported_after_it_ended_closes_its_alert_at_once(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    harmless, end = _harmless_run(recorded)
    after = _quiet_run(end)[:3]
    predictor = OnlinePredictor(model, ManualClock())
    assert predictor.observe(harmless + after)
    (closed,) = predictor.end_runs([RunEnd(end, "harmless")])
    assert closed.closing and closed.evidence["closes"] == RUN_ENDED
    assert closed.time_ns == after[-1].time_ns, "closed when the report came, on stream time"
    assert predictor.end_runs([RunEnd(end, "harmless")]) == [], "told again: nothing more"


def test_the_runs_tail_is_not_the_next_runs_warning_but_a_later_one_is(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    harmless, end = _harmless_run(recorded)
    predictor = OnlinePredictor(model, ManualClock())
    predictor.end_runs([RunEnd(end, "harmless")])
    predictor.observe(harmless)
    warning = harmless[-1]
    # Calls in flight when the fault was rolled back: the same warning in the next run's first
    # seconds, each within SPILL_GAP_S of the last.
    tail = [replace(warning, time_ns=end + k * 2 * S, id=f"tail-{k}") for k in range(3)]
    said = predictor.observe(tail)
    assert [p.evidence["closes"] for p in said] == [RUN_ENDED], "only the close: no new alert"
    later = replace(warning, time_ns=tail[-1].time_ns + 30 * S, id="its-own")
    (opened,) = [p for p in predictor.observe([later]) if not p.closing]
    assert opened.evidence["record_ids"] == ["its-own"], "the next run's own warning alerts"


def test_a_run_end_only_takes_the_evidence_of_its_own_services(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    harmless, end = _harmless_run(recorded)
    predictor = OnlinePredictor(model, ManualClock())
    predictor.end_runs([RunEnd(end, "app-only", ("app",))])
    said = predictor.observe(harmless + _quiet_run(end)[:2])
    assert said and not any(p.closing for p in said), "a run of another service ended"


def test_run_ends_survive_a_checkpoint(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    harmless, end = _harmless_run(recorded)
    first = OnlinePredictor(model, ManualClock())
    first.end_runs([RunEnd(end, "harmless")])
    first.observe(harmless[:5])
    resumed = OnlinePredictor(model, ManualClock())
    resumed.restore(first.state())
    said = resumed.observe(harmless[5:] + _quiet_run(end)[:2])
    assert [p.time_ns for p in said if p.closing] == [end]


def test_a_failed_run_no_line_showed_is_a_failure_seen_with_the_mode_warned_of(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    """A probe's deadline: the run failed, no line reads like it. Its report, at its end, is the
    failure seen live — of the mode premortem was warning of."""
    harmless, end = _harmless_run(recorded)
    start = end - RUN_S * S
    predictor = OnlinePredictor(model, ManualClock())
    report = RunEnd(
        end, "probe-only", (), start, True, None, "app", "probe: checkout did not answer in 5 s"
    )
    predictor.end_runs([report])
    opened = [p for p in predictor.observe(harmless) if not p.closing]
    assert predictor.observed_failures() == [], "nothing failed before the run ended"
    predictor.observe(_quiet_run(end)[:1])
    (seen,) = predictor.observed_failures()
    assert (seen.time_ns, seen.test_id, seen.service) == (end, "probe-only", "app")
    assert seen.mode_id == opened[-1].mode_id and seen.line.startswith("probe: checkout")


def test_a_failure_its_lines_showed_is_not_seen_twice(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    runs, records, _ = recorded
    run = runs[9]
    windows = run_windows_ns(runs)
    start, end = windows[run.test_id]
    predictor = OnlinePredictor(model, ManualClock())
    predictor.end_runs([RunEnd.of(run, windows)])
    predictor.observe([r for r in records if start <= r.time_ns < end + 3 * S])
    (seen,) = predictor.observed_failures()
    assert seen.test_id == "" and seen.record_id, "the failure's own line, not the report"


def test_runs_over_before_a_predictor_started_are_not_its_failures(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    """A model loaded after the training runs: their failures were not seen by it live."""
    runs, _, _ = recorded
    windows = run_windows_ns(runs)
    predictor = OnlinePredictor(model, ManualClock())
    last_end = max(end for _, end in windows.values())
    ends = [RunEnd.of(r, windows) for r in runs]
    predictor.end_runs(ends, started_ns=last_end - 50 * S)
    predictor.end_runs(ends)  # told again at the next look
    predictor.observe(_quiet_run(last_end)[:2])
    assert predictor.observed_failures() == [], "neither the runs over nor the one going on"
