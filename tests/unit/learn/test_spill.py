"""Runs back to back: the run before's failure going on into a run's first second is that
failure's tail, not the next run's normal operation (a trial: requests in flight when a fault
was rolled back failed just after the next run began; the failure line was taken for healthy,
no mode had it as its failure, and no failure was recognised live)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from premortem.domain import LogRecord, TestRun
from premortem.ingest.native import log_record, validate_test_run
from premortem.learn import model as model_module
from premortem.learn import train

START = datetime(2026, 4, 1, 8, 0, 0, tzinfo=UTC)
FAULT_S, FAILURE_AFTER_S, CALM_S = 10, 20, 40
FAILED = "transfer {n} failed after {ms} ms"


def _suite(rng: random.Random) -> tuple[list[TestRun], list[LogRecord]]:
    """Eight runs back to back, every other one failing; no `failure_time`, and details that
    read like no log line (what the client saw), so the onset is the first new error."""
    runs, lines = [], []
    begin = START
    for number in range(8):
        faulty = number % 2 == 1
        length = FAULT_S + FAILURE_AFTER_S + 2 if faulty else CALM_S
        doc: dict[str, Any] = {
            "test_id": f"ledger-{number:02d}",
            "timestamp": begin.isoformat(),
            "ended_at": (begin + timedelta(seconds=length)).isoformat(),
            "service": "ledger",
            "expected_outcome": "pass",
            "actual_outcome": "fail" if faulty else "pass",
        }
        if faulty:
            doc["injected_faults"] = [
                {"type": "rates_latency", "target": "rates", "start": FAULT_S}
            ]
            doc["failure_details"] = "probe: server disconnected without sending a response"
        runs.append(validate_test_run(doc).run)
        for tick in range(length * 2):
            now = begin + timedelta(milliseconds=500 * tick + rng.randrange(100))
            second = tick / 2
            lines.append((now, "INFO", f"transfer {rng.randrange(9999)} committed"))
            if faulty and FAULT_S + 3 <= second < FAULT_S + FAILURE_AFTER_S and tick % 4 == 0:
                lines.append((now, "WARN", f"slow call to rates: {rng.randrange(900, 2000)} ms"))
            if faulty and second >= FAULT_S + FAILURE_AFTER_S:
                ms = rng.randrange(2000, 3000)
                lines.append((now, "ERROR", FAILED.format(n=rng.randrange(9999), ms=ms)))
        if number % 2 == 0 and number:  # requests in flight from the failed run before
            for k in range(2):
                now = begin + timedelta(milliseconds=150 + 300 * k)
                lines.append((now, "ERROR", FAILED.format(n=rng.randrange(9999), ms=3001)))
        begin += timedelta(seconds=length)
    records = [
        log_record(
            {"timestamp": t.isoformat(), "service": "ledger", "severity_text": lvl, "body": b}, 0
        )
        for t, lvl, b in lines
    ]
    return runs, sorted(records, key=lambda r: r.time_ns)


def _trained() -> Any:
    runs, records = _suite(random.Random(24))
    return train(runs, records_by_run(runs, records))


def records_by_run(runs: list[TestRun], records: list[LogRecord]) -> dict[str, list[LogRecord]]:
    from premortem.runtime.training import logs_by_run, run_windows_ns

    return logs_by_run(runs, records, windows=run_windows_ns(runs))


def test_the_failure_line_that_spilled_into_the_next_run_is_still_the_failure() -> None:
    model = _trained()
    failed = model.miner.add(FAILED.format(n=1, ms=2500), service="ledger").template_id
    assert failed not in model.indicators.healthy
    assert failed in model.manifest_templates
    (mode,) = model.modes
    assert mode.manifestation["failure_templates"] == ["ledger: transfer <*> failed after <*>"]


def test_without_the_tail_rule_it_was_taken_for_healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The case the rule is for: with no run's tail told apart, the same suite loses it."""
    monkeypatch.setattr(model_module, "spilled_over", lambda *_args: {})
    model = _trained()
    failed = model.miner.add(FAILED.format(n=1, ms=2500), service="ledger").template_id
    assert failed in model.indicators.healthy
    assert failed not in model.manifest_templates


def test_only_what_came_with_a_timed_fault_is_a_tail() -> None:
    """A steady line is no tail, nor is anything after a run whose fault has no start (it
    cannot say which lines came with the fault)."""
    from premortem.learn.model import _spills
    from premortem.learn.timeline import Timeline

    s = 1_000_000_000
    steady = list(range(0, 60 * s, s // 2))  # every half second, before and after the fault
    before = Timeline("a", times={1: steady, 2: [40 * s, 55 * s, 59 * s]})  # 2: the failure
    after = Timeline("b", times={1: [60 * s + t for t in steady], 2: [60 * s + s // 4]})

    def run(test_id: str, start_s: int, fault: dict[str, Any] | None) -> TestRun:
        doc: dict[str, Any] = {
            "test_id": test_id,
            "timestamp": (START + timedelta(seconds=start_s)).isoformat(),
            "expected_outcome": "pass",
            "actual_outcome": "fail" if fault else "pass",
        }
        if fault:
            doc["injected_faults"] = [fault]
        return validate_test_run(doc).run

    start_ns = int(START.timestamp()) * s
    before.times = {k: [start_ns + t for t in v] for k, v in before.times.items()}
    after.times = {k: [start_ns + t for t in v] for k, v in after.times.items()}
    timed = _spills(
        [(run("a", 0, {"type": "lock", "start": 30}), before), (run("b", 60, None), after)]
    )
    assert timed == {"a": {}, "b": {2: 1}}
    untimed = _spills([(run("a", 0, {"type": "lock"}), before), (run("b", 60, None), after)])
    assert untimed == {"a": {}, "b": {}}
