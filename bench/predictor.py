"""Throughput of the online predictor: log lines per second through `OnlinePredictor.observe`.

    python bench/predictor.py [--data ../shared/data/openstack-fi] [--lines 200000] [--json OUT]

Trains on the first experiments of each subsystem of an openstack-fi directory (the synthetic
campaign of the unit tests when the directory is missing), then replays service-log lines of later
experiments in batches of 1,000, as the server does. Target: 10,000 lines/s on this machine.

Anchor, measured in the same run: the template miner alone on the same lines (a copy of the
trained miner) — the floor of the predictor's per-line cost.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from premortem.clock import ManualClock
from premortem.domain import LogRecord
from premortem.learn import OnlinePredictor, TrainedModel, train
from premortem.learn.openstack_backtest import LazyLogs, split
from premortem.learn.openstack_fi import Experiment, discover

TARGET_LINES_S = 10_000
BATCH = 1000


def _experiments(data: Path) -> list[Experiment]:
    if (data / "tests").is_dir():
        return discover(data)
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "unit" / "learn"))
    from synthetic import write_campaign  # type: ignore[import-not-found]

    return discover(write_campaign(Path(tempfile.mkdtemp()), n=8))


def _model(experiments: list[Experiment], per_subsystem: int) -> TrainedModel:
    chosen: list[Experiment] = []
    for subsystem in sorted({e.subsystem for e in experiments}):
        chosen += [e for e in experiments if e.subsystem == subsystem][:per_subsystem]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train([r for e in chosen for r in e.runs], LazyLogs(chosen))


def _lines(experiments: list[Experiment], limit: int) -> list[LogRecord]:
    records: list[LogRecord] = []
    for experiment in experiments:
        for run in experiment.runs:
            records += experiment.logs(run)
            if len(records) >= limit:
                return records[:limit]
    return records


def measure(data: Path, *, lines: int, per_subsystem: int) -> dict[str, Any]:
    experiments = _experiments(data)
    model = _model(experiments, per_subsystem)
    _, later = split(experiments)
    records = _lines(later, lines)
    miner = copy.deepcopy(model.miner)
    started = time.perf_counter()
    for record in records:
        miner.add(record.body, service=record.service)
    miner_s = time.perf_counter() - started
    clock = ManualClock()
    predictor = OnlinePredictor(model, clock)
    predictions = 0
    started = time.perf_counter()
    for start in range(0, len(records), BATCH):
        batch = records[start : start + BATCH]
        clock.set(batch[-1].time_ns)
        predictions += len(predictor.observe(batch))
    predictor_s = time.perf_counter() - started
    return {
        "lines": len(records),
        "predictor_lines_per_s": round(len(records) / predictor_s),
        "miner_only_lines_per_s": round(len(records) / miner_s),
        "predictions": predictions,
        "target_lines_per_s": TARGET_LINES_S,
        "meets_target": len(records) / predictor_s >= TARGET_LINES_S,
        "modes": len(model.modes),
        "indicators": len(model.indicators.names),
        "note": "2 shared cores; numbers are noisy",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "openstack-fi"
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--train-per-subsystem", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = measure(args.data, lines=args.lines, per_subsystem=args.train_per_subsystem)
    table = Table(title="Online predictor throughput")
    table.add_column("what")
    table.add_column("lines/s", justify="right")
    table.add_row(
        "OnlinePredictor.observe (batches of 1,000)", f"{result['predictor_lines_per_s']:,}"
    )
    table.add_row("anchor: template miner alone", f"{result['miner_only_lines_per_s']:,}")
    table.add_row("target", f"{TARGET_LINES_S:,}")
    Console().print(table)
    Console().print(
        f"{result['lines']:,} lines, {result['predictions']} predictions, "
        f"meets target: {result['meets_target']}"
    )
    if args.json:
        args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
