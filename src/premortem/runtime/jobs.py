"""What each kind of scheduled run does. Every result goes in through the pipeline, like any
other input, so it shows in the API and the UI."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from premortem.clock import Clock
from premortem.domain import ns_to_datetime
from premortem.ingest import TEST_RUN_FORMATS, simulation
from premortem.runtime.pipeline import Pipeline
from premortem.runtime.scheduler import RESULT_PLACEHOLDER, Job, JobFailed, Schedule
from premortem.runtime.training import Trainer
from premortem.sim import run_model
from premortem.sim.faults import FaultSpec


def simulation_job(pipeline: Pipeline, clock: Clock) -> Job:
    def run(schedule: Schedule) -> dict[str, Any]:
        assert schedule.model is not None
        now = clock.now_ns()
        result = run_model(
            schedule.model,
            schedule.params,
            seed=now % 2**31,  # each run is a fresh sample; the seed is kept in the run
            duration_s=schedule.duration_s,
            faults=[FaultSpec.model_validate(f) for f in schedule.faults],
            started_at=ns_to_datetime(now),
        )
        result = result.model_copy(update={"service": schedule.service})
        pipeline.ingest_simulations([result])
        return {"simulation_id": result.simulation_id}

    return run


def command_job(pipeline: Pipeline, clock: Clock) -> Job:
    """Run a command that writes a result premortem can ingest (`chaos run … --journal-path
    {result}`); a non-zero exit with a result is still ingested (a deviated chaos run exits 1)."""

    def run(schedule: Schedule) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="premortem-run-") as workdir:
            result = Path(workdir) / "result.json"
            argv = [arg.replace(RESULT_PLACEHOLDER, str(result)) for arg in schedule.command]
            try:
                completed = subprocess.run(
                    argv, cwd=workdir, capture_output=True, timeout=schedule.timeout_s, check=False
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise JobFailed(f"{argv[0]}: {exc}") from exc
            if not result.is_file():
                tail = completed.stderr.decode(errors="replace").strip().splitlines()[-3:]
                raise JobFailed(
                    f"exit {completed.returncode}, no result file written: {' | '.join(tail)}"
                )
            return _ingest_result(
                pipeline,
                schedule,
                result.read_bytes(),
                clock.now_ns(),
                exit_code=completed.returncode,
            )

    return run


def _ingest_result(
    pipeline: Pipeline, schedule: Schedule, data: bytes, now_ns: int, *, exit_code: int
) -> dict[str, Any]:
    if schedule.result_format == "simulation":
        sims = simulation.parse(data, now_ns=now_ns)
        pipeline.ingest_simulations(sims)
        return {"simulation_ids": [s.simulation_id for s in sims], "exit_code": exit_code}
    parser = TEST_RUN_FORMATS[schedule.result_format]
    runs = parser(data, now_ns=now_ns)
    pipeline.ingest_test_runs(runs)
    return {"test_run_ids": [r.run.test_id for r in runs], "exit_code": exit_code}


def train_job(trainer: Trainer, on_trained: Callable[[], None]) -> Job:
    def run(_schedule: Schedule) -> dict[str, Any]:
        result = trainer.run()
        on_trained()
        return {"model_version": result.version, "modes": result.modes}

    return run
