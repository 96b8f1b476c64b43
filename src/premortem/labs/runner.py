"""Suites of test runs against the inventory lab, back to back, as a user's CI would run them.

    with Lab(workdir, premortem_url=url) as lab:   # supplier-api, inventory-api, load, probe
        results = run_suite(lab, plan_suite(runs_per_fault=3, fault_free=3, seed=1), sink)

Each run: a healthy stretch, then (fault runs) a fault injected at a seeded offset through an admin
endpoint, until the runner's probe sees a checkout fail; then the rollback, and a wait until the
probe passes again. The run's failure time is the first failed checkout of the runner's traffic
(probe or load): kept by the runner, never sent. Each run
becomes a native test-run document without `failure_time`: premortem is told what failed
(`failure_details`, what the probe saw), not when.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from premortem.demo.servers import free_port
from premortem.domain import rfc3339_ns
from premortem.errors import PremortemError
from premortem.labs.traffic import Answer, Load, Probe, call

SERVICE = "inventory-api"
SECOND = 1_000_000_000
EXPECTED = "every checkout probe answers 200 within 4 s"


class LabError(PremortemError):
    """The lab cannot go on; the message says why."""


@dataclass(frozen=True, slots=True)
class Fault:
    type: str
    target: str
    process: str  # which lab process has the admin endpoint
    path: str
    body: dict[str, Any]


FAULTS = {
    "lock_contention": Fault(
        "lock_contention", "inventory-db", "inventory", "/admin/faults/lock-contention",
        {"hold_s": 0.3, "ramp_s_per_s": 0.35, "rows": 8},
    ),
    "slow_dependency": Fault(
        "slow_dependency", "supplier-api", "supplier", "/admin/latency",
        {"base_ms": 350, "ramp_ms_per_s": 110, "jitter": 0.35},
    ),
    "memory_pressure": Fault(
        "memory_pressure", "inventory-api", "inventory", "/admin/faults/memory-pressure",
        {"mib_per_s": 5},
    ),
}  # fmt: skip


RAMPS = (
    "ramp_s_per_s",
    "ramp_ms_per_s",
    "mib_per_s",
    "leaks_per_s",
    "stalls_per_s",
)  # what `pace` slows down


@dataclass(frozen=True, slots=True)
class System:
    """What the runner needs of a lab's system: its faults, the service its test runs are
    about, the steady state its probe checks and the setup its runs report."""

    name: str
    service: str
    expected: str
    faults: Mapping[str, Fault]
    parameters: Mapping[str, Any]
    probed: str  # what the probe does, for the run's actual outcome
    # Faults of the same types held below what breaks the system (a volume filled to 81 %, two
    # workers of four stuck): their warnings come, the failure does not (`--harmless`).
    harmless: Mapping[str, Fault] = field(default_factory=dict)

    def fault(self, kind: str) -> Fault:
        return self.faults[kind] if kind in self.faults else self.harmless[kind]


INVENTORY = System(
    "inventory", SERVICE, EXPECTED, FAULTS, {"load_rps": 12, "probe_interval_s": 0.5}, "checkout"
)


def fault_body(fault: Fault, pace: float) -> dict[str, Any]:
    """The fault's admin body with its ramps `pace` times slower: at pace 6 a checkout broke
    22-77 s after the fault instead of 6-10 s, as under a slow leak or a creeping dependency."""
    if pace == 1.0:
        return dict(fault.body)
    return {k: (round(v / pace, 4) if k in RAMPS else v) for k, v in fault.body.items()}


@dataclass(frozen=True, slots=True)
class PlannedRun:
    test_id: str
    fault: str | None
    offset_s: float  # when the fault is injected, after the run's start
    length_s: float  # fault-free runs: how long they last
    pace: float = 1.0  # how many times slower the fault ramps (fault_body)
    system: System = INVENTORY


@dataclass(slots=True)
class RunResult:
    plan: PlannedRun
    started_ns: int
    fault_ns: int | None = None
    failure_ns: int | None = None  # the first failed checkout of the runner's probe or load
    failure_seen: str = ""
    ended_ns: int = 0
    probes: int = 0
    failed_probes: int = 0
    doc: dict[str, Any] = field(default_factory=dict)

    def truth(self) -> dict[str, Any]:
        return {
            "test_id": self.plan.test_id,
            "fault": self.plan.fault,
            "started": rfc3339_ns(self.started_ns),
            "fault_start": rfc3339_ns(self.fault_ns) if self.fault_ns else None,
            "failure_time": rfc3339_ns(self.failure_ns) if self.failure_ns else None,
            "ended": rfc3339_ns(self.ended_ns),
            "probes": self.probes,
            "failed_probes": self.failed_probes,
        }


def plan_suite(
    *,
    runs_per_fault: int,
    fault_free: int,
    seed: int,
    prefix: str = "",
    pace: float = 1.0,
    system: System = INVENTORY,
    harmless_runs: int = 0,
) -> list[PlannedRun]:
    """The runs in a seeded order, every fault at a seeded offset (3-6 s into its run; at a
    slower `pace` up to three times as far in, and fault-free runs as many times longer)."""
    if pace < 1.0:
        raise ValueError(f"pace must be at least 1, not {pace}")
    stretch = min(pace, 3.0)
    rng = random.Random(seed)
    prefix = prefix or system.name
    kinds: list[str | None] = [f for f in system.faults for _ in range(runs_per_fault)]
    kinds += [None] * fault_free
    if harmless_runs and not system.harmless:
        raise ValueError(f"the {system.name} lab has no harmless faults")
    kinds += [f for f in system.harmless for _ in range(harmless_runs)]
    rng.shuffle(kinds)
    return [
        PlannedRun(
            f"{prefix}-s{seed}-{index:02d}-{kind or 'fault-free'}".replace("_", "-"),
            kind,
            round(rng.uniform(3.0, 6.0) * stretch, 1),
            round(rng.uniform(12.0, 16.0) * stretch, 1),
            pace,
            system,
        )
        for index, kind in enumerate(kinds, start=1)
    ]


class FailureSeen(Protocol):
    def first_failure(self, since_ns: int) -> Answer | None: ...


class RunnableLab(Protocol):
    """What `run_suite` needs of a lab (`Lab`, `bookings_lab.BookingsLab`)."""

    system: System
    seed: int
    probe: Probe | None

    @property
    def load(self) -> FailureSeen | None: ...

    def check(self) -> None: ...

    def admin(self, process: str, path: str, body: dict[str, Any]) -> None: ...

    def rollback(self) -> None: ...

    def start(self) -> object: ...

    def close(self) -> None: ...


class Lab:
    """supplier-api and inventory-api as child processes on free ports, under load and probed."""

    system = INVENTORY

    def __init__(
        self, workdir: Path, *, premortem_url: str = "", seed: int = 0, noise_per_s: float = 0.0
    ) -> None:
        self.workdir = workdir
        self.premortem_url = premortem_url
        self.seed = seed
        self.noise_per_s = noise_per_s
        self.urls: dict[str, str] = {}
        self.log_files = {
            "supplier": workdir / "supplier.jsonl",
            "inventory": workdir / "inventory.jsonl",
        }
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self.load: Load | None = None
        self.probe: Probe | None = None

    def start(self) -> Lab:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._spawn("supplier", ["--seed", str(self.seed)])
        self._spawn(
            "inventory",
            ["--supplier", self.urls["supplier"], "--db", str(self.workdir / "inventory.db")],
        )
        self.load = Load(
            self.urls["inventory"], rps=12, seed=self.seed, noise_per_s=self.noise_per_s
        ).start()
        self.probe = Probe(self.urls["inventory"], seed=self.seed).start()
        return self

    def _spawn(self, name: str, extra: list[str]) -> None:
        port = free_port()
        self.urls[name] = f"http://127.0.0.1:{port}"
        command = [
            sys.executable, "-m", f"premortem.labs.{name}", "--port", str(port),
            "--premortem", self.premortem_url, "--log-file", str(self.log_files[name]),
            "--parent-pid", str(os.getpid()), *extra,
        ]  # fmt: skip
        stderr = (self.workdir / f"{name}.stderr").open("ab")
        self._processes[name] = subprocess.Popen(
            command, stdout=stderr, stderr=stderr, start_new_session=True, cwd=self.workdir
        )
        deadline = time.monotonic() + 20
        while call(self.urls[name] + "/health", None, timeout_s=1).status != 200:
            self.check()
            if time.monotonic() > deadline:
                raise LabError(f"{name} did not answer on {self.urls[name]} within 20 s")
            time.sleep(0.1)

    def check(self) -> None:
        for name, process in self._processes.items():
            if process.poll() is not None:
                raise LabError(
                    f"{name} exited with code {process.returncode} "
                    f"(see {self.workdir / (name + '.stderr')})"
                )

    def admin(self, process: str, path: str, body: dict[str, Any]) -> None:
        admin_call(self.urls[process], process, path, body)

    def rollback(self) -> None:
        self.admin("supplier", "/admin/clear", {})
        self.admin("inventory", "/admin/faults/clear", {})

    def close(self) -> None:
        for part in (self.probe, self.load):
            if part is not None:
                part.stop()
        self.probe = self.load = None
        for process in self._processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self._processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._processes.clear()

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def admin_call(url: str, process: str, path: str, body: dict[str, Any]) -> None:
    """An admin call to a lab process (inject or roll back a fault); LabError unless 200."""
    answer = call(url + path, body, timeout_s=15)
    if answer.status != 200:
        raise LabError(f"{process} admin {path} answered {answer.status}: {answer.detail}")


AFTER_FAILURE_S = 1.5  # the failure is left on a moment, as a probe-driven rollback would
MAX_FAULT_S = 30.0  # a fault that has not broken the checkout by then is rolled back anyway


def run_suite(
    lab: RunnableLab,
    plans: Sequence[PlannedRun],
    on_run: Callable[[RunResult], None],
    *,
    say: Callable[[str], None] = lambda _text: None,
) -> list[RunResult]:
    """Every planned run, back to back; `on_run` gets each result as soon as it ended."""
    results = []
    for plan in plans:
        result = execute_run(lab, plan)
        on_run(result)
        results.append(result)
        lead = (
            f", failure {(result.failure_ns - result.fault_ns) / SECOND:.1f} s after the fault"
            if result.failure_ns and result.fault_ns
            else ""
        )
        say(f"{plan.test_id}: {result.failed_probes}/{result.probes} probes failed{lead}")
    return results


def execute_run(lab: RunnableLab, plan: PlannedRun) -> RunResult:
    assert lab.probe is not None
    result = RunResult(plan, time.time_ns())
    if plan.fault is None:
        _sleep(lab, plan.length_s)
    else:
        _sleep(lab, plan.offset_s)
        fault = plan.system.fault(plan.fault)
        result.fault_ns = time.time_ns()
        lab.admin(fault.process, fault.path, fault_body(fault, plan.pace))
        deadline = time.monotonic() + MAX_FAULT_S * plan.pace
        while lab.probe.first_failure(result.fault_ns) is None and time.monotonic() < deadline:
            _sleep(lab, 0.1)  # the probe decides: one failed load request is not yet a failure
        _sleep(lab, AFTER_FAILURE_S)
        rolled_back = time.time_ns()
        lab.rollback()
        deadline = time.monotonic() + 30
        while not lab.probe.healthy_since(rolled_back, count=3):
            if time.monotonic() > deadline:
                raise LabError(f"{plan.test_id}: the checkout did not recover within 30 s")
            _sleep(lab, 0.1)
    result.ended_ns = time.time_ns()
    answers = [a for a in lab.probe.since(result.started_ns) if a.sent_ns < result.ended_ns]
    result.probes = len(answers)
    result.failed_probes = sum(not a.ok for a in answers)
    failure = next((a for a in answers if not a.ok), None)
    if failure is not None:
        result.failure_seen = (
            f"probe POST {lab.probe.path} answered {failure.status or 'nothing'}: {failure.detail}"
        )
        load_failure = lab.load.first_failure(result.started_ns) if lab.load else None
        earliest = min(
            (a for a in (failure, load_failure) if a is not None and a.sent_ns < result.ended_ns),
            key=lambda a: a.answered_ns,
        )
        result.failure_ns = earliest.answered_ns
    result.doc = native_document(result, seed=lab.seed)
    return result


def native_document(result: RunResult, *, seed: int) -> dict[str, Any]:
    """The run in premortem's native format, without `failure_time`."""
    plan = result.plan
    system = plan.system
    faults = []
    if plan.fault is not None and result.fault_ns is not None:
        fault = system.fault(plan.fault)
        start = rfc3339_ns(result.fault_ns)
        body = fault_body(fault, plan.pace)
        faults.append({"type": fault.type, "target": fault.target, "start": start, **body})
    failed = result.failed_probes > 0
    return {
        "test_id": plan.test_id,
        "timestamp": rfc3339_ns(result.started_ns),
        "service": system.service,
        "environment": "lab",
        # how long it really lasted, kept out of `parameters`: a fault run lasts until its
        # failure and rollback, so its length says how it ended, not how it was set up
        "duration_s": round((result.ended_ns - result.started_ns) / SECOND, 3),
        "parameters": {**system.parameters, "seed": seed},
        "injected_faults": faults,
        "expected_outcome": system.expected,
        "actual_outcome": (
            f"{result.failed_probes} of {result.probes} {system.probed} probes failed"
            if failed
            else system.expected
        ),
        "failure_details": result.failure_seen or None,
        "ended_at": rfc3339_ns(result.ended_ns),
    }


def _sleep(lab: RunnableLab, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        lab.check()
        time.sleep(min(0.2, left))


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="premortem-lab-"))
