"""A line of a template normal operation knows, at a level normal operation never had, is new.

The case: a gateway's access lines (nginx, no level field) are one template whatever their
status; while healthy every request answers 200, and after a slow-dependency fault some answer
504 (ERROR, `severity.access_level`) twenty seconds before the failure. The 504s were the only
warning, and since the template was healthy they fired nothing: premortem stayed silent where
"first ERROR line" warned (a trial's nginx in front of gunicorn)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from premortem.domain import LogRecord, TestRun
from premortem.ingest.multiline import assemble
from premortem.ingest.native import log_record, validate_test_run
from premortem.learn import train
from premortem.learn.backtest import ReplayRun, replay
from premortem.learn.model import TrainedModel

START = datetime(2026, 5, 1, 9, 0, 0, tzinfo=UTC)
FAULT_S, FAILURE_AFTER_S, CALM_S = 10, 25, 45
ACCESS = '10.0.0.{peer} - - [01/May/2026:09:00:00 +0000] "GET /orders/{n} HTTP/1.1" {status} {size}'
OPEN = "gateway: circuit to orders open after {n} timeouts"


def _suite(rng: random.Random, runs_n: int, first: int = 0) -> tuple[list[TestRun], list[Any]]:
    """Runs back to back, every other one a slow dependency that fails; no `failure_time`, and
    details no log line reads like, so the onset is the first new error (the circuit line)."""
    runs, lines = [], []
    begin = START + timedelta(seconds=first * (FAULT_S + FAILURE_AFTER_S + CALM_S))
    for number in range(first, first + runs_n):
        faulty = number % 2 == 1
        length = FAULT_S + FAILURE_AFTER_S + 3 if faulty else CALM_S
        doc: dict[str, Any] = {
            "test_id": f"gw-{number:02d}",
            "timestamp": begin.isoformat(),
            "ended_at": (begin + timedelta(seconds=length)).isoformat(),
            "service": "gateway",
            "expected_outcome": "pass",
            "actual_outcome": "fail" if faulty else "pass",
        }
        if faulty:
            doc["injected_faults"] = [{"type": "latency", "target": "orders", "start": FAULT_S}]
            doc["failure_details"] = "probe: 3 of 3 order reads timed out"
        runs.append(validate_test_run(doc).run)
        for tick in range(length * 2):
            now = begin + timedelta(milliseconds=500 * tick + rng.randrange(100))
            second = tick / 2
            slow = faulty and second >= FAULT_S + 3
            status = 504 if slow and tick % 3 == 0 else 200
            lines.append(
                (
                    now,
                    ACCESS.format(
                        peer=rng.randrange(2, 9),
                        n=rng.randrange(9999),
                        status=status,
                        size=rng.randrange(100, 900),
                    ),
                )
            )
            if faulty and second >= FAULT_S + FAILURE_AFTER_S:
                lines.append((now, OPEN.format(n=rng.randrange(5, 50))))
        begin += timedelta(seconds=length)
    return runs, lines


def _records(lines: list[Any]) -> list[LogRecord]:
    # no level field on the access lines: the server reads it from their status
    # (`multiline.assemble`, as on every ingest path); the circuit line is sent as ERROR
    out = []
    for t, body in lines:
        item: dict[str, Any] = {"timestamp": t.isoformat(), "service": "gateway", "body": body}
        if body.startswith("gateway:"):
            item["severity_text"] = "ERROR"
        out.append(log_record(item, 0))
    return sorted(assemble(out), key=lambda r: r.time_ns)


def _trained() -> tuple[TrainedModel, list[TestRun], list[LogRecord]]:
    from premortem.runtime.training import logs_by_run, run_windows_ns

    runs, lines = _suite(random.Random(7), 10)
    records = _records(lines)
    model = train(runs, logs_by_run(runs, records, windows=run_windows_ns(runs)))
    return model, runs, records


def _later(model: TrainedModel) -> list[Any]:
    from premortem.runtime.training import logs_by_run, run_windows_ns

    runs, lines = _suite(random.Random(8), 6, first=10)
    by_run = logs_by_run(runs, _records(lines), windows=run_windows_ns(runs))
    return replay(
        model,
        [ReplayRun(run, lambda r=run: list(by_run.get(r.test_id, []))) for run in runs],
        kind_of_mode=lambda m: m,
        baseline_kind="",
    )


def test_a_5xx_access_line_is_an_error_and_a_2xx_one_has_no_level() -> None:
    records = _records([(START, ACCESS.format(peer=2, n=1, status=s, size=10)) for s in (200, 504)])
    assert [r.severity_number for r in records] == [0, 17]


def test_the_healthy_template_at_a_worse_level_warns_ahead_of_every_failure() -> None:
    model, _, _ = _trained()
    access = model.miner.add(ACCESS.format(peer=2, n=1, status=200, size=1), service="gateway")
    assert access.template_id in model.indicators.healthy
    assert model.indicators.escalated(access.template_id, 17)
    assert not model.indicators.escalated(access.template_id, 9)
    outcomes = _later(model)
    failing = [o for o in outcomes if o.failed]
    assert len(failing) == 3
    for outcome in failing:
        first = outcome.model.times[0][0] if outcome.model.times else None
        assert first is not None and outcome.onset_ns - first >= 10e9, outcome.run_id
    assert not any(o.model.times for o in outcomes if not o.faulty)


def test_without_escalation_the_same_suite_is_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    """The case the rule is for: trained counting a healthy template as known at any level (as
    before it), the same suite warns of none of these failures ahead."""
    from premortem.learn import model as model_module

    plain = model_module.indicator_set
    monkeypatch.setattr(
        model_module, "indicator_set", lambda *a, **k: plain(*a, **{**k, "levels": None})
    )
    model, _, _ = _trained()
    assert not model.indicators.escalation
    outcomes = _later(model)
    for outcome in (o for o in outcomes if o.failed):
        early = [t for t, _, _ in outcome.model.times if outcome.onset_ns - t >= 10e9]
        assert not early, outcome.run_id


def test_healthy_levels_survive_the_model_state() -> None:
    model, _, _ = _trained()
    again = TrainedModel.loads(model.dumps())
    assert again.indicators.escalation
    assert again.indicators.healthy_levels == model.indicators.healthy_levels
