"""Schedules: simulations, chaos/synthetic test commands and training, run on a cron schedule or
continuously (again `interval_s` after the previous run finished).

The scheduler only decides *when*; what a run does is a `Job` per kind (premortem.runtime.jobs),
so the loop can be tested with a manual clock and fake jobs.

    {"name": "nightly-pool-sim", "kind": "simulation", "cron": "0 3 * * *",
     "model": "service", "params": {"request_rate": 300, "pool_size": 10}, "service": "checkout"}
    {"name": "db-latency-chaos", "kind": "command", "interval_s": 3600,
     "command": ["chaos", "--no-version-check", "run", "exp.json", "--journal-path", "{result}"],
     "result_format": "chaostoolkit"}
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from premortem.clock import Clock, SystemClock
from premortem.domain import Number, ns_to_datetime

log = logging.getLogger(__name__)

Kind = Literal["simulation", "command", "train"]
RESULT_PLACEHOLDER = "{result}"
# Past this, last-finished + interval overflows 64-bit nanoseconds (and the scheduler loop with it).
# 0 would run a schedule back to back forever (a retraining loop holds a core and the store).
MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 100 * 365 * 86_400


# `_complete` as JSON Schema, so clients and fuzzers see the rule: one of cron or interval_s,
# a model for a simulation, a command (argv) for a command.
_SCHEDULE_RULES: dict[str, Any] = {
    "anyOf": [
        {
            "required": ["cron"],
            "properties": {"cron": {"type": "string"}, "interval_s": {"type": "null"}},
        },
        {
            "required": ["interval_s"],
            "properties": {"interval_s": {"type": "number"}, "cron": {"type": "null"}},
        },
    ],
    "allOf": [
        {
            "if": {"properties": {"kind": {"const": "simulation"}}},
            "then": {
                "required": ["model"],
                "properties": {"model": {"type": "string", "minLength": 1}},
            },
        },
        {
            "if": {"properties": {"kind": {"const": "command"}}},
            "then": {"required": ["command"], "properties": {"command": {"minItems": 1}}},
        },
    ],
}


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_SCHEDULE_RULES)

    id: str = ""
    name: str = Field(min_length=1, max_length=128)
    kind: Kind
    cron: str | None = Field(default=None, description="5-field cron expression, UTC")
    interval_s: Number | None = Field(
        default=None,
        ge=MIN_INTERVAL_S,
        le=MAX_INTERVAL_S,
        description="run again this long after the previous run finished (1 s to 100 years)",
    )
    enabled: bool = True
    service: str | None = None
    # kind == "simulation"
    model: str | None = None
    params: dict[str, float | int | str] = Field(default_factory=dict)
    duration_s: Number = Field(default=300, ge=1, le=86_400)
    faults: list[dict[str, Any]] = Field(default_factory=list)
    # kind == "command"
    command: list[str] = Field(default_factory=list)
    result_format: str = "chaostoolkit"
    timeout_s: Number = Field(default=900, gt=0)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None and not croniter.is_valid(value):
            raise ValueError(f"not a valid cron expression: {value!r}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Schedule:
        if (self.cron is None) == (self.interval_s is None):
            raise ValueError("give exactly one of cron or interval_s")
        if self.kind == "simulation" and not self.model:
            raise ValueError("a simulation schedule needs a model")
        if self.kind == "command" and not self.command:
            raise ValueError("a command schedule needs a command (argv list)")
        if not self.id:
            self.id = re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-") or "schedule"
        return self


@dataclass(frozen=True, slots=True)
class CommandPolicy:
    """Which executables command schedules may run; the default runs none.

    A command runs as an argv list, never through a shell, and only when its `argv[0]` is one of
    `executables` exactly (a name is looked up on the server's PATH, a path is taken as given).
    """

    executables: frozenset[str] = frozenset()
    reason: str = (
        "command schedules are disabled: allow their executables with "
        "PREMORTEM_ALLOW_COMMAND_SCHEDULES (API tokens required)"
    )

    def refusal(self, schedule: Schedule) -> str | None:
        """Why this schedule may not run here, or None when it may."""
        if schedule.kind != "command":
            return None
        if not self.executables:
            return self.reason
        program = schedule.command[0]
        if program not in self.executables:
            allowed = ", ".join(sorted(self.executables))
            return f"{program!r} is not an allowed executable for command schedules ({allowed})"
        return None


class ScheduleRun(BaseModel):
    id: str
    schedule_id: str
    started_ns: int
    finished_ns: int | None = None
    status: Literal["running", "succeeded", "failed"] = "running"
    detail: str = ""
    outputs: dict[str, Any] = Field(default_factory=dict)


class JobFailed(Exception):
    """A run failed in a way worth reporting (the message is shown as the run's detail)."""


Job = Callable[[Schedule], dict[str, Any]]


class ScheduleRepository(Protocol):
    def list_schedules(self) -> list[Schedule]: ...

    def last_run(self, schedule_id: str) -> ScheduleRun | None: ...

    def created_ns(self, schedule_id: str) -> int: ...

    def save_run(self, run: ScheduleRun) -> None: ...


def next_due_ns(schedule: Schedule, *, last: ScheduleRun | None, created_ns: int) -> int | None:
    """When the schedule should run next (None while its previous run is still going)."""
    if last is not None and last.finished_ns is None:
        return None
    if schedule.interval_s is not None:
        if last is None:
            return created_ns
        assert last.finished_ns is not None
        return last.finished_ns + int(schedule.interval_s * 1e9)
    assert schedule.cron is not None
    base = ns_to_datetime(last.started_ns if last else created_ns)
    following: datetime = croniter(schedule.cron, base.astimezone(UTC)).get_next(datetime)
    return int(following.timestamp() * 1e9)


class Scheduler:
    def __init__(
        self,
        repository: ScheduleRepository,
        jobs: Mapping[str, Job],
        *,
        clock: Clock | None = None,
        poll_s: float = 1.0,
        commands: CommandPolicy | None = None,
    ) -> None:
        self._repository = repository
        self._jobs = jobs
        self.commands = commands or CommandPolicy()
        self._clock = clock or SystemClock()
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_due(self) -> list[ScheduleRun]:
        """Run every enabled schedule that is due now, one after another."""
        done = []
        for schedule in self._repository.list_schedules():
            if not schedule.enabled:
                continue
            due = next_due_ns(
                schedule,
                last=self._repository.last_run(schedule.id),
                created_ns=self._repository.created_ns(schedule.id),
            )
            if due is not None and due <= self._clock.now_ns():
                done.append(self.run_now(schedule))
        return done

    def run_now(self, schedule: Schedule) -> ScheduleRun:
        started = self._clock.now_ns()
        run = ScheduleRun(
            id=f"{schedule.id}-{started}", schedule_id=schedule.id, started_ns=started
        )
        self._repository.save_run(run)
        refusal = self.commands.refusal(schedule)
        try:
            if refusal is not None:  # stored before commands were disallowed: recorded, not run
                raise JobFailed(refusal)
            outputs = self._jobs[schedule.kind](schedule)
        except Exception as exc:  # a failing job is recorded, never stops the scheduler
            log.warning("schedule %s failed: %s", schedule.id, exc)
            run = run.model_copy(update={"status": "failed", "detail": str(exc)[:2000]})
        else:
            run = run.model_copy(update={"status": "succeeded", "outputs": outputs})
        run = run.model_copy(update={"finished_ns": self._clock.now_ns()})
        self._repository.save_run(run)
        return run

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="premortem-scheduler", daemon=True
            )
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                self.run_due()
            except Exception:
                log.exception("scheduler pass failed")
