"""Issue 11: onset-only templates are manifestations, never precursors — and only they are.

A run that gives `failure_time` makes the new error lines logged at that moment its failure's
manifestation (learn/onset.py). When the same error came *before* the failure in other runs, it
is a warning there, not the failure: it must stay a precursor, and live its early appearance must
warn instead of reading as the failure itself (which would end the incident in silence).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from premortem.clock import ManualClock
from premortem.domain import LogRecord, Prediction, TestRun, datetime_to_ns
from premortem.ingest.native import log_record, validate_test_run
from premortem.learn import OnlinePredictor, TrainedModel, train

START = datetime(2026, 4, 1, 8, 0, 0, tzinfo=UTC)
RUN_S, FAULT_S, FAILURE_AFTER_S = 60, 15, 25
LOCK = "could not obtain lock on relation orders"


def _run(number: int, rng: random.Random) -> tuple[TestRun, list[LogRecord], int | None]:
    begin = START + timedelta(seconds=number * RUN_S)
    faulty = number % 2 == 1
    failure = begin + timedelta(seconds=FAULT_S + FAILURE_AFTER_S, milliseconds=300)
    doc: dict[str, Any] = {
        "test_id": f"locks-{number:02d}",
        "timestamp": begin.isoformat(),
        "service": "app",
        "expected_outcome": "checkout succeeds",
        "actual_outcome": "checkout failed" if faulty else "checkout succeeds",
        "duration_s": RUN_S,
    }
    if faulty:
        doc["injected_faults"] = [{"type": "lock_contention", "target": "db", "start": FAULT_S}]
        doc["failure_details"] = "checkout failed: HTTP 500"
        doc["failure_time"] = failure.isoformat()
    lines = []
    for second in range(RUN_S):
        now = begin + timedelta(seconds=second, milliseconds=rng.randrange(200))
        lines.append(("app", "INFO", now, f"GET /orders/{rng.randrange(999)} 200"))
        # Run 1 logs the lock error only as the failure happens; later runs log it early.
        early = faulty and number > 1 and FAULT_S + 3 <= second < FAULT_S + FAILURE_AFTER_S
        if early and second % 3 == 0:
            lines.append(("db", "ERROR", now, f"{LOCK} (pid {rng.randrange(100, 999)})"))
    if faulty:
        lines.append(("db", "ERROR", failure, f"{LOCK} (pid {rng.randrange(100, 999)})"))
        lines.append(("app", "ERROR", failure, "checkout failed: HTTP 500 on /checkout"))
    records = [
        log_record(
            {"timestamp": t.isoformat(), "service": s, "severity_text": level, "body": body}, 0
        )
        for s, level, t, body in lines
    ]
    run = validate_test_run(doc).run
    return (
        run,
        sorted(records, key=lambda r: r.time_ns),
        datetime_to_ns(failure) if faulty else None,
    )


def test_an_error_that_preceded_a_failure_elsewhere_is_a_precursor_not_the_failure() -> None:
    rng = random.Random(3)
    made = [_run(n, rng) for n in range(8)]
    model = train([r for r, _, _ in made[:6]], {r.test_id: logs for r, logs, _ in made[:6]})
    lock = model.miner.add(f"{LOCK} (pid 123)", service="db").template_id
    failure = model.miner.add("checkout failed: HTTP 500 on /checkout", service="app").template_id
    assert lock not in model.manifest_templates, "it came before the failure in runs 3 and 5"
    assert failure in model.manifest_templates, "logged only at the failures: the failure itself"
    # The mode's document says which lines live will take for the failure, and only those.
    (mode,) = model.modes
    assert mode.manifestation["failure_templates"] == ["app: checkout failed: HTTP <*> on <*>"]

    _, logs, failure_ns = made[7]
    assert failure_ns is not None
    alerts = _alerts_before(model, logs, failure_ns)
    assert alerts, "the early lock errors warn of the failure"
    assert (failure_ns - alerts[0].time_ns) / 1e9 >= 10


def test_without_failure_time_or_matching_details_the_new_error_at_the_onset_is_the_failure() -> (
    None
):
    """A probe's report that no log line reads like ("the order is locked; try again"): the onset
    is the first new error after the fault (learn/onset.py rule 2), and the new errors logged
    then are the failure's manifestation, its name, and never its precursors."""
    rng = random.Random(5)
    runs, logs = [], {}
    for number in range(6):
        begin = START + timedelta(seconds=number * RUN_S)
        faulty = number % 2 == 1
        doc: dict[str, Any] = {
            "test_id": f"probe-{number:02d}",
            "timestamp": begin.isoformat(),
            "service": "app",
            "expected_outcome": "every order probe answers 200",
            "actual_outcome": (
                "2 of 30 order probes failed" if faulty else "every order probe answers 200"
            ),
            "duration_s": RUN_S,
        }
        lines = [
            (
                "app",
                "INFO",
                begin + timedelta(seconds=s, milliseconds=rng.randrange(200)),
                "GET 200",
            )
            for s in range(RUN_S)
        ]
        if faulty:
            doc["injected_faults"] = [{"type": "lock_contention", "target": "db", "start": FAULT_S}]
            doc["failure_details"] = (
                "probe POST /orders answered 503: the order is locked; try again"
            )
            for s in range(FAULT_S + 2, FAULT_S + FAILURE_AFTER_S, 2):
                at = begin + timedelta(seconds=s)
                lines.append(("db", "LOG", at, f"process {s} still waiting for ShareLock"))
            failed = begin + timedelta(seconds=FAULT_S + FAILURE_AFTER_S)
            lines.append(("db", "ERROR", failed, "canceling statement due to lock timeout"))
            lines.append(
                ("app", "ERROR", failed, "order failed: canceling statement due to lock timeout")
            )
        run = validate_test_run(doc).run
        runs.append(run)
        logs[run.test_id] = sorted(
            (
                log_record(
                    {"timestamp": t.isoformat(), "service": s, "severity_text": v, "body": b}, 0
                )
                for s, v, t, b in lines
            ),
            key=lambda r: r.time_ns,
        )
    model = train(runs, logs)
    (mode,) = model.modes
    cancel = model.miner.add("canceling statement due to lock timeout", service="db").template_id
    assert cancel in model.manifest_templates
    assert mode.name == "app: lock wait timeout"
    assert all(
        t.condition.get("template_id") not in model.manifest_templates for t in mode.triggers
    )


def test_a_line_healthy_operation_logs_at_info_is_never_the_failure() -> None:
    """A probe's "order not settled within 3 s" shares most words with the app's everyday
    "order N settled in N ms" (INFO, in every healthy run): only the ERROR that says the same
    is the failure, and the onset is that ERROR's first line, not the run's first order."""
    from premortem.learn.onset import place_onset
    from premortem.learn.timeline import build_timeline
    from premortem.logs.miner import PrefixTreeMiner

    second = 1_000_000_000
    records = [
        LogRecord(k * second, f"orders.api: order {k} settled in {k % 17 + 3} ms", "orders-api", 9)
        for k in range(1, 30)
    ]
    records += [
        LogRecord(
            k * second + 1, f"orders.api: order {k} not settled within 3.0 s", "orders-api", 17
        )
        for k in range(20, 30)
    ]
    records.sort(key=lambda r: r.time_ns)
    timeline = build_timeline("r", records, PrefixTreeMiner())
    settled = next(t for t, text in timeline.templates.items() if "not" not in text)
    details = "probe POST /api/orders answered 504: order not settled within 3 s"
    manifest, onset = place_onset(timeline, details, fault_start_ns=10 * second, healthy={settled})
    assert [timeline.templates[t] for t in manifest] == [
        "orders.api: order <*> not settled within <*>"
    ]
    assert onset == 20 * second + 1


def test_a_warning_that_shares_the_details_words_is_a_precursor_when_the_failure_is_an_error() -> (
    None
):
    """A poison message: the worker warns each time it moves a message to the dead-letter
    queue, 40 s before the gateway rejects payments ("dead-letter queue over limit", which the
    test's details quote). The warning shares the phrase "dead letter queue" with the details,
    but the failure is the error: the warning is its precursor, and it warns live."""
    rng = random.Random(8)
    failure_s = 55

    def run(number: int) -> tuple[TestRun, list[LogRecord], int | None]:
        begin = START + timedelta(seconds=number * 70)
        faulty = number % 2 == 1
        doc: dict[str, Any] = {
            "test_id": f"poison-{number:02d}",
            "timestamp": begin.isoformat(),
            "service": "payments",
            "expected_outcome": "payments accepted",
            "actual_outcome": "payments rejected" if faulty else "payments accepted",
            "duration_s": 70,
        }
        lines = []
        for second in range(70 if not faulty else failure_s + 2):
            now = begin + timedelta(seconds=second, milliseconds=rng.randrange(200))
            lines.append(("gateway", "INFO", now, f"payment {rng.randrange(9999)} accepted"))
        if faulty:
            doc["injected_faults"] = [{"type": "poison_message", "target": "queue", "start": 10}]
            doc["failure_details"] = (
                "payment rejected: queue in degraded mode, dead-letter queue over limit"
            )
            for second in range(13, failure_s, 4):
                now = begin + timedelta(seconds=second, milliseconds=500)
                size = (second - 9) // 4
                lines.append(
                    (
                        "worker",
                        "WARN",
                        now,
                        f"message m-{rng.randrange(9999)} moved to dead-letter queue after 5 "
                        f"attempts (dead-letter size {size})",
                    )
                )
            failure = begin + timedelta(seconds=failure_s)
            for k in range(3):
                lines.append(
                    (
                        "gateway",
                        "ERROR",
                        failure + timedelta(milliseconds=100 * k),
                        f"payment {rng.randrange(9999)} rejected: queue in degraded mode, "
                        "dead-letter queue over limit",
                    )
                )
        records = [
            log_record(
                {"timestamp": t.isoformat(), "service": s, "severity_text": lv, "body": body}, 0
            )
            for s, lv, t, body in lines
        ]
        failure_ns = datetime_to_ns(begin + timedelta(seconds=failure_s)) if faulty else None
        return validate_test_run(doc).run, sorted(records, key=lambda r: r.time_ns), failure_ns

    made = [run(n) for n in range(8)]
    model = train([r for r, _, _ in made[:6]], {r.test_id: logs for r, logs, _ in made[:6]})
    moved = model.miner.add(
        "message m-1 moved to dead-letter queue after 5 attempts (dead-letter size 3)",
        service="worker",
    ).template_id
    assert moved not in model.manifest_templates, "the warning is not the failure"
    (mode,) = model.modes
    assert all(t.startswith("gateway:") for t in mode.manifestation["failure_templates"])
    leads = [t.lead_times_s for t in mode.triggers if t.condition.get("template_id") == moved]
    assert leads and min(leads[0]) > 30, "the warning came 40 s before the failure"

    _, logs, failure_ns = made[7]
    assert failure_ns is not None
    alerts = _alerts_before(model, logs, failure_ns)
    assert alerts, "the dead-letter warnings warn of the failure"
    assert (failure_ns - alerts[0].time_ns) / 1e9 >= 10


def _alerts_before(model: TrainedModel, logs: list[LogRecord], failure_ns: int) -> list[Prediction]:
    """The predictions at or above the model's threshold on `logs` before the failure, live."""
    clock = ManualClock()
    predictor = OnlinePredictor(model, clock)
    alerts = []
    for record in logs:
        if record.time_ns >= failure_ns:
            break
        clock.set(record.time_ns)
        alerts += [p for p in predictor.observe([record]) if p.probability >= model.alert_threshold]
    return alerts


def test_a_failure_line_two_modes_end_with_is_stored_as_the_mode_that_was_predicted() -> None:
    """Two kinds of failure end with the same line (a Redis outage and a load ramp both end in
    "request rejected: too many in-flight requests"; the outage's details read like no line, so
    that line is its manifestation too). Seen live, the failure is the mode the evidence
    pointed at — here the outage, warned by its cache misses — not the first one learned (a
    trial's `GET /api/v1/failures` put load failures under the outage's mode)."""
    start = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
    failure = "request rejected: too many in-flight requests"
    kinds = {
        "redis": ("timed out waiting for a db connection", "cache miss: redis down, reading db"),
        "load": (failure, "load rising: workers busy"),
    }

    def run_of(i: int, kind: str) -> tuple[TestRun, list[LogRecord]]:
        began = start + timedelta(minutes=2 * i)
        fails = kind != "none"
        run = TestRun.model_validate(
            {
                "test_id": f"run-{i}",
                "timestamp": began.isoformat(),
                "duration_s": 110,
                "injected_faults": [{"type": kind, "start": 30}] if fails else [],
                "expected_outcome": "pass",
                "actual_outcome": "fail" if fails else "pass",
                "failure_details": kinds[kind][0] if fails else None,
            }
        )
        t0 = int(began.timestamp()) * 10**9
        lines = [
            LogRecord(t0 + s * 10**9, f"GET /items/{s % 9} 200 in {s % 7} ms", "api", 9)
            for s in range(0, 100, 2)
        ]
        if fails:
            lines += [
                LogRecord(t0 + s * 10**9, kinds[kind][1], "api", 13) for s in range(35, 80, 3)
            ]
            lines += [LogRecord(t0 + s * 10**9, failure, "api", 17) for s in range(80, 100)]
        return run, sorted(lines, key=lambda r: r.time_ns)

    order = ["redis", "load", "none", "redis", "load", "none", "redis", "load"]
    history = [run_of(i, kind) for i, kind in enumerate(order)]
    model = train([r for r, _ in history], {r.test_id: lines for r, lines in history})
    # the outage's details read like no line: training says so (a trial found no hint of it)
    assert model.stats["onsets"] == {"details": ["run-1", "run-4", "run-7"],
                                     "new error": ["run-0", "run-3", "run-6"]}  # fmt: skip
    (shared,) = [t for t, modes in model.manifest_modes.items() if len(modes) == 2]
    by_kind = {m.name: m.id for m in model.modes}
    outage = by_kind["connection pool exhaustion"]  # "timed out waiting for a db connection"
    assert model.manifest_modes[shared][0] != outage, "the outage is not simply the first listed"

    predictor = OnlinePredictor(model, ManualClock(0))
    _, lines = run_of(20, "redis")
    predictor.observe(lines)
    (seen, *_) = predictor.observed_failures()
    assert seen.mode_id == outage

    # The warnings stop 20 s before the failure: the prediction closes as its evidence expires,
    # and the failure is still the outage it warned of (a trial's went to the other mode).
    predictor = OnlinePredictor(model, ManualClock(0))
    _, lines = run_of(30, "redis")
    t0 = lines[0].time_ns
    quiet = [r for r in lines if not (r.body == kinds["redis"][1] and r.time_ns >= t0 + 60 * 10**9)]
    told = predictor.observe(quiet)
    closed = [p for p in told if p.evidence.get("closes") == "evidence expired"]
    assert closed and closed[0].time_ns < t0 + 80 * 10**9, "closed before the failure came"
    (seen, *_) = predictor.observed_failures()
    assert seen.mode_id == outage


def test_runs_that_name_no_service_give_the_mode_the_service_that_failed() -> None:
    """docs/alerting.md: a mode's `service` (its alerts' label) is its runs' `service`, else the
    service whose lines were the failure — not an empty label (a Litmus trial's alerts had one)."""
    rng = random.Random(3)
    made = [_run(n, rng) for n in range(6)]
    for run, _, _ in made:
        run.service = None
    model = train([r for r, _, _ in made], {r.test_id: logs for r, logs, _ in made})
    (mode,) = model.modes
    assert mode.service == "app"
