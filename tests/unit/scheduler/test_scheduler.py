from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from premortem.clock import ManualClock
from premortem.runtime.scheduler import CommandPolicy, Schedule, Scheduler, ScheduleRun, next_due_ns

S = 1_000_000_000
T0 = 1_700_000_000 * S  # 2023-11-14T22:13:20Z


class MemorySchedules:
    def __init__(self, *schedules: Schedule) -> None:
        self.schedules = list(schedules)
        self.saved: dict[str, ScheduleRun] = {}

    def list_schedules(self) -> list[Schedule]:
        return self.schedules

    def last_run(self, schedule_id: str) -> ScheduleRun | None:
        runs = [r for r in self.saved.values() if r.schedule_id == schedule_id]
        return max(runs, key=lambda r: r.started_ns) if runs else None

    def created_ns(self, schedule_id: str) -> int:
        return T0

    def save_run(self, run: ScheduleRun) -> None:
        self.saved[run.id] = run


def test_a_schedule_needs_exactly_one_timing_and_its_kind_fields() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        Schedule(name="x", kind="train")
    with pytest.raises(ValidationError, match="model"):
        Schedule(name="x", kind="simulation", interval_s=5)
    with pytest.raises(ValidationError, match="cron"):
        Schedule(name="x", kind="train", cron="every tuesday")
    assert (
        Schedule(name="Nightly Sim!", kind="simulation", model="service", cron="0 3 * * *").id
        == "nightly-sim"
    )


def test_continuous_schedules_run_again_after_the_interval() -> None:
    schedule = Schedule(name="s", kind="train", interval_s=60)
    assert next_due_ns(schedule, last=None, created_ns=T0) == T0
    running = ScheduleRun(id="r", schedule_id="s", started_ns=T0)
    assert next_due_ns(schedule, last=running, created_ns=T0) is None
    done = running.model_copy(update={"finished_ns": T0 + 5 * S, "status": "succeeded"})
    assert next_due_ns(schedule, last=done, created_ns=T0) == T0 + 65 * S


def test_cron_schedules_follow_the_expression() -> None:
    schedule = Schedule(name="s", kind="train", cron="0 * * * *")  # every full hour, UTC
    due = next_due_ns(schedule, last=None, created_ns=T0)
    assert due == T0 + (60 - 13) * 60 * S - 20 * S


def test_the_loop_runs_due_jobs_and_records_failures() -> None:
    clock = ManualClock(T0)
    calls: list[str] = []

    def ok(schedule: Schedule) -> dict[str, Any]:
        calls.append(schedule.id)
        clock.advance(2)
        return {"n": len(calls)}

    def broken(schedule: Schedule) -> dict[str, Any]:
        raise RuntimeError("no such experiment")

    repo = MemorySchedules(
        Schedule(name="a", kind="train", interval_s=10),
        Schedule(name="b", kind="command", command=["false"], interval_s=10),
        Schedule(name="c", kind="train", interval_s=10, enabled=False),
    )
    allow_false = CommandPolicy(frozenset({"false"}))
    scheduler = Scheduler(repo, {"train": ok, "command": broken}, clock=clock, commands=allow_false)
    first = scheduler.run_due()
    assert [(r.schedule_id, r.status) for r in first] == [("a", "succeeded"), ("b", "failed")]
    assert first[1].detail == "no such experiment" and first[0].outputs == {"n": 1}
    assert scheduler.run_due() == []  # not due again yet
    clock.advance(11)
    assert [r.schedule_id for r in scheduler.run_due()] == ["a", "b"]
    assert calls == ["a", "a"]


def test_command_schedules_run_only_allow_listed_executables() -> None:
    ran: list[str] = []

    def job(schedule: Schedule) -> dict[str, Any]:
        ran.append(schedule.id)
        return {}

    repo = MemorySchedules(
        Schedule(name="chaos", kind="command", command=["chaos", "run", "x.json"], interval_s=10),
        Schedule(name="other", kind="command", command=["/tmp/chaos", "run"], interval_s=10),
    )
    refused = Scheduler(repo, {"command": job}, clock=ManualClock(T0)).run_due()
    assert [r.status for r in refused] == ["failed", "failed"]
    assert "PREMORTEM_ALLOW_COMMAND_SCHEDULES" in refused[0].detail and ran == []

    repo.saved.clear()
    policy = CommandPolicy(frozenset({"chaos"}))
    runs = Scheduler(repo, {"command": job}, clock=ManualClock(T0), commands=policy).run_due()
    assert [(r.schedule_id, r.status) for r in runs] == [
        ("chaos", "succeeded"),
        ("other", "failed"),
    ]
    assert "'/tmp/chaos' is not an allowed executable" in runs[1].detail and ran == ["chaos"]


def test_an_interval_of_zero_is_refused() -> None:
    """It would run the schedule back to back forever (found by schemathesis: a train schedule
    with interval_s 0 retrained continuously and starved the server)."""
    with pytest.raises(ValidationError, match="interval_s"):
        Schedule(name="x", kind="train", interval_s=0)
    assert Schedule(name="x", kind="train", interval_s=1).interval_s == 1
