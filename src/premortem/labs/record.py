"""Record a suite to a directory, for offline evaluation:

runs.json    the native test-run documents, in the order they ran (no `failure_time`)
logs.jsonl   every native log record the lab's processes shipped, in time order
truth.json   per run: when the fault started and when the probe saw the failure, and the
             first ERROR line after the fault; never sent to premortem
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from premortem.domain import ERROR_SEVERITY
from premortem.ingest.fields import rfc3339_to_ns
from premortem.ingest.native import log_record
from premortem.labs.runner import RunResult, plan_suite, run_suite, scratch_dir
from premortem.labs.systems import SYSTEMS


def record_suite(
    out_dir: Path,
    *,
    runs_per_fault: int,
    fault_free: int,
    seed: int,
    pace: float = 1.0,
    noise_per_s: float = 0.0,
    system: str = "inventory",
    harmless_runs: int = 0,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = scratch_dir()
    make_lab, spec = SYSTEMS[system]
    plans = plan_suite(
        runs_per_fault=runs_per_fault,
        fault_free=fault_free,
        seed=seed,
        pace=pace,
        system=spec,
        harmless_runs=harmless_runs,
    )
    results: list[RunResult] = []
    lab = make_lab(workdir, seed=seed, noise_per_s=noise_per_s)
    try:
        lab.start()
        run_suite(lab, plans, results.append, say=say)
        time.sleep(1.0)  # the shippers write their last batch
    finally:
        lab.close()
    records = [
        json.loads(line)
        for path in sorted(workdir.glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    records.sort(key=lambda r: rfc3339_to_ns(r["timestamp"]))
    with (out_dir / "logs.jsonl").open("w") as out:
        out.writelines(json.dumps(r) + "\n" for r in records)
    (out_dir / "runs.json").write_text(json.dumps([r.doc for r in results], indent=1))
    # Levels as premortem reads them (a PostgreSQL line shipped raw has none of its own),
    # read once: every run looks for its first error among these.
    errors = [
        (record.time_ns, doc)
        for doc in records
        if (record := log_record(doc, 0)).severity_number >= ERROR_SEVERITY
    ]
    truth = [_truth(result, errors) for result in results]
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=1))
    shutil.rmtree(workdir, ignore_errors=True)
    return {
        "runs": len(results),
        "failed_runs": sum(1 for r in results if r.failure_ns),
        "log_records": len(records),
        "seconds": round(time.monotonic() - started, 1),
        "out_dir": str(out_dir),
    }


def _truth(result: RunResult, errors: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """The run's truth, with the first error logged between its fault and its end."""
    truth = result.truth()
    first_error = None
    if result.fault_ns is not None:
        fault_ns = result.fault_ns
        first_error = next(
            (doc for time_ns, doc in errors if fault_ns <= time_ns <= result.ended_ns), None
        )
    truth["first_error_log"] = (
        {k: first_error.get(k) for k in ("timestamp", "service", "severity_text", "body")}
        if first_error
        else None
    )
    return truth
