"""Issue 11: runs back to back without failure_time, onsets from the logs, warnings on new
evidence only, no uninformed 0.5."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta

import pytest

from premortem.clock import ManualClock
from premortem.domain import LogRecord, TestRun, TriggerKind, datetime_to_ns
from premortem.learn import OnlinePredictor, TrainedModel, train
from premortem.learn.network import ModeNetwork
from premortem.learn.suite_backtest import (
    Suite,
    backtest_suite,
    validate_suite,
    validation_blocks,
)
from premortem.runtime.training import logs_by_run, run_windows_ns

from .native_suite import FAULT_S, RUN_S, START

S = 1_000_000_000


def _training_logs(runs: list[TestRun], records: list[LogRecord]) -> dict[str, list[LogRecord]]:
    """The first eight runs' logs, tied to them by the training window rule."""
    return logs_by_run(runs[:8], records, windows=run_windows_ns(runs))


def test_runs_back_to_back_never_share_a_line(
    recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]],
) -> None:
    runs, _, _ = recorded
    windows = run_windows_ns(runs)
    for previous, current in itertools.pairwise(runs):
        assert windows[previous.test_id][1] <= windows[current.test_id][0]
        assert windows[current.test_id][0] == datetime_to_ns(current.timestamp)


def test_a_run_without_an_end_stops_where_the_next_run_starts() -> None:
    from premortem.ingest.native import validate_test_run

    first, second = (
        validate_test_run(
            {"test_id": f"r{i}", "timestamp": (START + timedelta(seconds=30 * i)).isoformat()}
        ).run
        for i in range(2)
    )
    windows = run_windows_ns([second, first])
    assert windows["r0"] == (datetime_to_ns(START), datetime_to_ns(START) + 30 * S)


def test_onset_is_found_in_the_logs_and_its_lines_are_not_precursors(
    model: TrainedModel,
) -> None:
    (mode,) = model.modes
    assert model.manifest_templates, "the failure line is known as the failure"
    triggers = [t for t in mode.triggers if t.kind == TriggerKind.LOG_PATTERN]
    assert triggers, mode.triggers
    for trigger in triggers:
        assert "checkout failed" not in trigger.description
        assert trigger.condition.get("template_id") not in model.manifest_templates
    # Lead times are measured to the first failure line (25 s after the fault), not to the
    # run's start (which would give none) nor to its end.
    leads = [x for t in triggers for x in t.lead_times_s]
    assert leads and max(leads) <= RUN_S - FAULT_S
    assert min(leads) > 5


def test_suite_replayed_as_one_stream_warns_before_every_failure(
    recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]],
) -> None:
    runs, records, truth = recorded
    report = backtest_suite(Suite(runs, records, truth), train_runs=runs[:8], replay_runs=runs[8:])
    counts = report["counts"]
    assert counts["failed_runs"] == 2
    assert counts["right_alerts"] == 2, report["details"]
    assert counts["fault_free_alerted"] == 0, report["details"]
    assert report["precision"] == 1.0


def test_suite_validation_replays_only_the_earlier_half_in_rolling_blocks(
    recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]],
) -> None:
    runs, records, truth = recorded
    assert [(len(fit), len(held)) for fit, held in validation_blocks(runs[:6])] == [(3, 1), (4, 2)]
    report = validate_suite(Suite(runs, records, truth), folds=2)
    replayed = [r["run"] for fold in report["details"]["folds"] for r in fold["runs"]]
    assert replayed == [r.test_id for r in runs[3:6]]  # never the later half (runs 6-11)
    backtest = backtest_suite(Suite(runs, records, truth))
    assert set(report) == set(backtest) and set(report["baseline"]) == set(backtest["baseline"])


def test_expiry_never_alerts_and_a_new_incident_is_evaluated_again(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    runs, records, _ = recorded
    clock = ManualClock()
    predictor = OnlinePredictor(model, clock, min_probability=0.0)
    run = runs[9]
    start = datetime_to_ns(run.timestamp)
    precursor = next(
        r for r in records if r.service == "db" and r.severity_number >= 13 and r.time_ns > start
    )
    clock.set(precursor.time_ns)
    assert predictor.observe([precursor]), "a new precursor is evaluated"
    # The evidence expires: nothing is predicted, however the probabilities move.
    later = precursor.time_ns + int((model.indicators.window_s + 5) * S)
    quiet = LogRecord(later, "checkpoint complete: wrote 12 buffers", "db", 9, "INFO")
    clock.set(later)
    assert predictor.observe([quiet]) == []
    again = LogRecord(later + S, precursor.body, "db", precursor.severity_number, "WARN")
    assert predictor.observe([again]), "the same signal in a new incident is evaluated again"


def test_the_failure_line_ends_the_incident(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    runs, records, truth = recorded
    run = runs[9]
    start, onset = datetime_to_ns(run.timestamp), truth[run.test_id]
    predictor = OnlinePredictor(model, ManualClock())
    predictor.observe([r for r in records if start <= r.time_ns <= onset])
    assert predictor.probabilities() == model.network.posterior(frozenset())


def test_the_aftermath_of_a_failure_does_not_warn_of_the_next(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    """The fault is rolled back after the failure, but its warnings go on a moment (calls still
    in flight): while they keep coming they are the same incident; after a quiet pause the same
    warning is a new incident and is evaluated again."""
    runs, records, truth = recorded
    run = runs[9]
    start, onset = datetime_to_ns(run.timestamp), truth[run.test_id]
    predictor = OnlinePredictor(model, ManualClock(), min_probability=0.0)
    incident = [r for r in records if start <= r.time_ns <= onset]
    predictor.observe(incident)
    failure = incident[-1]
    warning = _db_precursors(recorded, 1)[0]
    regap = max(int(model.indicators.window_s * S * 0.1), int(model.indicators.step_s * S))
    # The failure's lines stop; its warnings go on, each within the regap of the one before.
    step = regap // 2
    after = [
        replace(warning, time_ns=failure.time_ns + k * step, id=f"after-{k}") for k in range(1, 8)
    ]
    assert predictor.observe(after) == [], "the aftermath is not new evidence"
    again = replace(warning, time_ns=after[-1].time_ns + regap, id="again")
    assert predictor.observe([again]), "after a quiet pause it is a new incident"


def test_a_failure_seen_live_is_reported_once_per_incident_with_its_mode(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    runs, records, truth = recorded
    (mode,) = model.modes
    predictor = OnlinePredictor(model, ManualClock())
    for run in (runs[9], runs[11]):  # two later failures, back to back
        start = datetime_to_ns(run.timestamp)
        end = start + RUN_S * S
        predictor.observe([r for r in records if start <= r.time_ns < end])
        (seen,) = predictor.observed_failures()
        assert seen.mode_id == mode.id and seen.mode_ids == (mode.id,)
        assert seen.time_ns == truth[run.test_id], "the first line of the failure"
        assert seen.service == "app" and "checkout failed" in seen.line
        assert predictor.observed_failures() == []


def test_a_failure_that_pauses_and_comes_back_is_one_failure(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    """A fault held on fails in bursts (lock timeouts seconds apart): a burst after a pause longer
    than the incident's, with nothing new between, is the same failure (a trial's run counted
    twice in `GET /api/v1/failures`); after new evidence, or a whole window later, a new one."""
    runs, records, truth = recorded
    run = runs[9]
    start, onset = datetime_to_ns(run.timestamp), truth[run.test_id]
    predictor = OnlinePredictor(model, ManualClock())
    predictor.observe([r for r in records if start <= r.time_ns <= onset])
    assert len(predictor.observed_failures()) == 1
    failure = next(r for r in records if r.time_ns == onset)
    regap = max(int(model.indicators.window_s * S * 0.1), int(model.indicators.step_s * S))
    burst = replace(failure, time_ns=onset + 2 * regap, id="burst")
    predictor.observe([burst])
    assert predictor.observed_failures() == [], "the same failure, back after a pause"
    warning = _db_precursors(recorded, 1)[0]
    fresh = replace(warning, time_ns=burst.time_ns + 2 * regap, id="fresh-warning")
    predictor.observe([fresh, replace(failure, time_ns=fresh.time_ns + regap // 2, id="next")])
    assert len(predictor.observed_failures()) == 1, "after new evidence: a new failure"
    later = onset + 10 * int(model.indicators.window_s * S)
    predictor.observe([replace(failure, time_ns=later, id="much-later")])
    assert len(predictor.observed_failures()) == 1, "a window later: a new failure"


def test_unseen_parent_combinations_back_off_instead_of_one_half() -> None:
    rows = (
        [{"fault": "none", "a": 0, "b": 0, "m": 0}] * 60
        + [{"fault": "x", "a": 1, "b": 0, "m": 1}] * 12
        + [{"fault": "x", "a": 1, "b": 0, "m": 0}] * 2
        + [{"fault": "y", "a": 0, "b": 1, "m": 1}] * 12
        + [{"fault": "y", "a": 0, "b": 1, "m": 0}] * 2
    )
    network = ModeNetwork(["a", "b"], ["m"]).fit(rows)
    assert set(network.parents("m")) >= {"a", "b"} or "fault" in network.parents("m")
    both = network.posterior(frozenset({"a", "b"}))["m"]
    assert both != pytest.approx(0.5, abs=0.01)
    assert both > network.posterior(frozenset())["m"]


def test_same_inputs_same_model(
    recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]], model: TrainedModel
) -> None:
    runs, records, _ = recorded
    assert train(runs[:8], _training_logs(runs, records)).dumps() == model.dumps()


def test_expired_evidence_closes_the_open_prediction_once(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    runs, records, _ = recorded
    clock = ManualClock()
    predictor = OnlinePredictor(model, clock)
    start = datetime_to_ns(runs[9].timestamp)
    precursors = [
        r for r in records if r.service == "db" and r.severity_number >= 13 and r.time_ns > start
    ][:3]
    clock.set(precursors[-1].time_ns)
    opened = predictor.observe(precursors)
    assert opened and all("closes" not in p.evidence for p in opened)
    later = precursors[-1].time_ns + int((model.indicators.window_s + 1) * S)
    clock.set(later)
    quiet = LogRecord(later, "checkpoint complete: wrote 12 buffers", "db", 9, "INFO")
    closed = predictor.observe([quiet])
    assert [p.evidence["closes"] for p in closed] == ["evidence expired"]
    assert closed[0].probability < model.alert_threshold
    assert predictor.observe([quiet]) == []


def _db_precursors(
    recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]], count: int = 3
) -> list[LogRecord]:
    runs, records, _ = recorded
    start = datetime_to_ns(runs[9].timestamp)
    return [
        r for r in records if r.service == "db" and r.severity_number >= 13 and r.time_ns > start
    ][:count]


def test_a_quiet_sources_evidence_expires_as_the_rest_of_the_stream_moves_on(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    """A source that logs only when something is wrong (a lock manager) goes quiet after its
    warnings; its evidence must not outlive the window because it never logs again."""
    clock = ManualClock()
    predictor = OnlinePredictor(model, clock)
    precursors = _db_precursors(recorded)
    clock.set(precursors[-1].time_ns)
    assert predictor.observe(precursors)
    window = int(model.indicators.window_s * S)
    soon = precursors[-1].time_ns + window // 2
    clock.set(soon)
    assert predictor.observe([LogRecord(soon, "GET /health 200", "app", 9, "INFO")]) == []
    later = precursors[-1].time_ns + window + S
    clock.set(later)
    closed = predictor.observe([LogRecord(later, "GET /health 200", "app", 9, "INFO")])
    assert [p.evidence["closes"] for p in closed] == ["evidence expired"]


def test_a_late_source_that_keeps_sending_is_judged_on_its_own_time(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    """The db replays an hour-old stretch while the app is live: the app's newer records do not
    expire the db's evidence; only the db's own time does."""
    clock = ManualClock()
    predictor = OnlinePredictor(model, clock)
    precursors = _db_precursors(recorded)
    hour = 3600 * S
    live = precursors[-1].time_ns + hour
    predictor.observe([LogRecord(live, "GET /health 200", "app", 9, "INFO")])
    assert predictor.observe(precursors)
    for step in range(1, 4):
        app = LogRecord(live + step * S, "GET /health 200", "app", 9, "INFO")
        db = LogRecord(precursors[-1].time_ns + step * S, "checkpoint complete", "db", 9, "INFO")
        assert predictor.observe([app]) == [] and predictor.observe([db]) == []
    late = precursors[-1].time_ns + int((model.indicators.window_s + 1) * S)
    closed = predictor.observe([LogRecord(late, "checkpoint complete", "db", 9, "INFO")])
    assert [p.evidence["closes"] for p in closed] == ["evidence expired"]


def test_time_passing_without_records_expires_evidence(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    """Live, every source can go quiet at once; the server's tick moves stream time on."""
    predictor = OnlinePredictor(model, ManualClock())
    precursors = _db_precursors(recorded)
    assert predictor.observe(precursors)
    window = int(model.indicators.window_s * S)
    assert predictor.pass_time(precursors[-1].time_ns + window // 2) == []
    closed = predictor.pass_time(precursors[-1].time_ns + window + S)
    assert [p.evidence["closes"] for p in closed] == ["evidence expired"]
    assert predictor.pass_time(precursors[-1].time_ns + 2 * window) == []


def test_runs_that_do_not_say_when_their_fault_started_still_warn(
    recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]],
) -> None:
    runs, records, truth = recorded
    # No fault start, no duration: the evidence window comes from run start to onset instead of
    # falling back to five minutes (which carried one 60 s run's warnings into the next).
    bare = [
        r.model_copy(
            update={
                "injected_faults": [
                    f.model_copy(update={"start": None}) for f in r.injected_faults
                ],
                "duration_s": None,
            }
        )
        for r in runs
    ]
    report = backtest_suite(Suite(bare, records, truth), train_runs=bare[:8], replay_runs=bare[8:])
    assert report["counts"]["right_alerts"] == 2, report["details"]
    assert report["counts"]["fault_free_alerted"] == 0, report["details"]
    assert report["details"]["evidence_window_s"] < 120


def test_a_flood_of_errors_training_never_saw_ends_the_incident_premortem_warned_of(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    """A failure of a kind no training run had (a disk filling up, where training saw only lock
    contention): premortem warned under the mode it knows, then the failure logs errors it has
    never seen, on every request. That ends the incident as a known failure would — the alert
    resolves and the warnings still coming are its aftermath — instead of firing on into the
    next run. One such error now and then does not."""
    from premortem.learn.predictor import FLOOD_LINES, UNNAMED_FAILURE

    clock = ManualClock()
    predictor = OnlinePredictor(model, clock)
    precursors = _db_precursors(recorded)
    clock.set(precursors[-1].time_ns)
    assert predictor.observe(precursors), "warned"
    at = precursors[-1].time_ns + S

    def disk_full(k: int, gap_ns: int) -> LogRecord:
        line = f"could not write order {4000 + k} to the ledger: [Errno 28] No space left"
        return LogRecord(at + k * gap_ns, line, "app", 17, "ERROR", id=f"enospc-{k}")

    regap = max(int(model.indicators.window_s * S * 0.1), int(model.indicators.step_s * S))
    sparse = [disk_full(k, regap // 2 + 1) for k in range(FLOOD_LINES)]  # spread over 2 regaps
    for line in sparse:
        clock.set(line.time_ns)
        assert all("closes" not in p.evidence for p in predictor.observe([line]))
    predictor = OnlinePredictor(model, clock)
    clock.set(precursors[-1].time_ns)
    predictor.observe(precursors)
    flood = [disk_full(k, S // 20) for k in range(FLOOD_LINES)]
    clock.set(flood[-1].time_ns)
    closed = predictor.observe(flood)
    assert [p.evidence["closes"] for p in closed] == [UNNAMED_FAILURE]
    still = [replace(w, time_ns=flood[-1].time_ns + S // 2, id=f"still-{k}") for k, w in
             enumerate(precursors)]  # fmt: skip
    assert predictor.observe(still) == [], "the warnings still coming are the aftermath"


def test_evidence_expires_at_the_same_moment_however_records_are_batched(
    model: TrainedModel, recorded: tuple[list[TestRun], list[LogRecord], dict[str, int]]
) -> None:
    """A replay posts a thousand records at a time, a shipper a quarter second's worth: the
    moment an alert's evidence expires (and the next run's alert can start afresh) must not
    depend on that."""
    precursors = _db_precursors(recorded)
    window = int(model.indicators.window_s * S)
    quiet = [
        LogRecord(precursors[-1].time_ns + k * S, "GET /health 200", "app", 9, "INFO", id=f"q{k}")
        for k in range(1, int(model.indicators.window_s) + 30)
    ]
    stream = precursors + quiet

    def replay(batch: int) -> list[tuple[int, str, str]]:
        clock = ManualClock()
        predictor = OnlinePredictor(model, clock)
        out = []
        for start in range(0, len(stream), batch):
            records = stream[start : start + batch]
            clock.set(records[-1].time_ns)
            out += [
                (p.time_ns, p.mode_id, str(p.evidence.get("closes", "")))
                for p in predictor.observe(records)
            ]
        return out

    one_by_one, all_at_once = replay(1), replay(len(stream))
    assert one_by_one == all_at_once
    closes = [t for t, _, why in all_at_once if why == "evidence expired"]
    assert closes and closes[0] - precursors[-1].time_ns <= window + S
