"""In-process micro-benchmark of template mining: µs per line through the miner and the catalog.

    python bench/mining.py [--data ../shared/data] [--src SRC] [--only NAME] [--repeats N]
                           [--mode miner|catalog|both] [--dump OUT] [--profile OUT]

Workloads (service, message) in stream order:

- ``many-templates``: `bench/ingest.py`'s many-templates lines (every line a new template, the
  miner past its cap from line 5,001 on; 100k lines, services in turn as ingest sends them);
- ``loghub-2k``: the Content field of the 16 Loghub-2k systems, each system in a fresh miner;
- ``hdfs-100k``: the HDFS-100k sessions rebuilt as real HDFS lines (`bench/hdfs.py`), in stream
  order, service ``hdfs``.

``miner`` times `PrefixTreeMiner.add` per line; ``catalog`` times `TemplateCatalog.assign` per
batch of 1,000 records (no repository, as `bench/hdfs.py` runs it). Workloads are built before the
clock starts. `--src` picks the source tree to import (an older worktree's ``src`` for an A/B).

`--dump` writes every line's template id, template, parameters (read at once) and whether it was
new, then each miner's final templates, as JSON lines: two trees agree when their dumps are equal.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BATCH = 1000

Workload = list[tuple[str, str]]


def _many_templates(lines: int) -> list[Workload]:
    sys.path.insert(0, str(ROOT / "bench"))
    from ingest import _many_templates_record

    records = (_many_templates_record(n) for n in range(lines))
    return [[(str(r["service"]), str(r["body"])) for r in records]]


def _loghub(data: Path) -> list[Workload]:
    from _logs import SYSTEMS

    runs = []
    for system in SYSTEMS:
        path = data / "loghub-2k" / system / f"{system}_2k.log_structured.csv"
        with path.open(encoding="utf-8", newline="") as handle:
            runs.append([("", row["Content"]) for row in csv.DictReader(handle)])
    return runs


def _hdfs(data: Path) -> list[Workload]:
    import hdfs

    blocks = hdfs.load(data)
    templates = hdfs.load_templates(data)
    lines, _ = hdfs.rebuild_lines(blocks, templates, hdfs.exemplars(data, templates))
    return [[(r.service, r.body) for r in hdfs.as_stream(blocks, lines, with_ids=False)]]


def workloads(data: Path, lines: int) -> dict[str, Callable[[], list[Workload]]]:
    sys.path.insert(0, str(ROOT / "bench"))
    return {
        "many-templates": lambda: _many_templates(lines),
        "loghub-2k": lambda: _loghub(data),
        "hdfs-100k": lambda: _hdfs(data),
    }


def run_miner(runs: Sequence[Workload]) -> float:
    from premortem.logs.miner import PrefixTreeMiner

    elapsed = 0.0
    for run in runs:
        add = PrefixTreeMiner().add
        started = time.perf_counter()
        for service, message in run:
            add(message, service=service)
        elapsed += time.perf_counter() - started
    return elapsed


def run_catalog(runs: Sequence[Workload]) -> float:
    from premortem.domain import LogRecord
    from premortem.logs.catalog import TemplateCatalog
    from premortem.logs.miner import PrefixTreeMiner

    elapsed = 0.0
    for run in runs:
        records = [
            LogRecord(time_ns=1_700_000_000_000_000_000 + i, body=m, service=s)
            for i, (s, m) in enumerate(run)
        ]
        catalog = TemplateCatalog(PrefixTreeMiner())
        started = time.perf_counter()
        for i in range(0, len(records), BATCH):
            catalog.assign(records[i : i + BATCH])
        elapsed += time.perf_counter() - started
    return elapsed


def dump(runs: Sequence[Workload], out: Path, *, off: Sequence[str] = (), cap: int = 5000) -> int:
    from premortem.logs.heuristics import Heuristics
    from premortem.logs.miner import PrefixTreeMiner

    heuristics = Heuristics()
    for name in off:
        heuristics = heuristics.switched(name, on=False)
    count = 0
    with out.open("w", encoding="utf-8") as handle:
        for n, run in enumerate(runs):
            miner = PrefixTreeMiner(heuristics=heuristics, max_templates=cap)
            evicted: list[int] = []
            miner.on_evict = evicted.extend
            for service, message in run:
                m = miner.add(message, service=service)
                row = [m.template_id, m.template, list(m.parameters), m.is_new]
                handle.write(json.dumps(row) + "\n")
                count += 1
            final = [[t.id, t.service, t.template, t.count] for t in miner.templates()]
            handle.write(json.dumps({"run": n, "templates": final, "evicted": evicted}) + "\n")
            handle.write(json.dumps({"run": n, "state": miner.dumps().decode()}) + "\n")
            ids, templates = _catalog_run(run, heuristics=heuristics, cap=cap)
            handle.write(json.dumps({"run": n, "catalog_ids": ids}) + "\n")
            for template in templates:
                handle.write(template.model_dump_json() + "\n")
    return count


def _catalog_run(run: Workload, *, heuristics: Any, cap: int) -> tuple[list[int | None], Any]:
    """Each record's template id through `TemplateCatalog.assign` (batches of 1,000) and the
    catalog's templates at the end, with their statistics."""
    from premortem.domain import LogRecord
    from premortem.logs.catalog import TemplateCatalog
    from premortem.logs.miner import PrefixTreeMiner

    records = [
        LogRecord(time_ns=1_700_000_000_000_000_000 + 7 * i % 1000, body=m, service=s)
        for i, (s, m) in enumerate(run)
    ]
    catalog = TemplateCatalog(PrefixTreeMiner(heuristics=heuristics, max_templates=cap))
    for i in range(0, len(records), BATCH):
        catalog.assign(records[i : i + BATCH])
    templates = sorted(catalog.templates(), key=lambda t: t.id)
    return [r.template_id for r in records], templates


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--src", type=Path, default=ROOT / "src")
    parser.add_argument("--only", action="append", help="workload name (repeatable)")
    parser.add_argument("--lines", type=int, default=100_000, help="many-templates lines")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mode", choices=("miner", "catalog", "both"), default="both")
    parser.add_argument("--dump", type=Path, help="write every line's match here (one workload)")
    parser.add_argument("--off", action="append", default=[], help="heuristic off in --dump")
    parser.add_argument("--cap", type=int, default=5000, help="max_templates in --dump")
    parser.add_argument("--profile", type=Path, help="cProfile the first miner run to this file")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(args.src.resolve()))
    import premortem

    print(f"premortem from {Path(premortem.__file__).parent}")

    chosen = workloads(args.data, args.lines)
    names = args.only or list(chosen)
    result: dict[str, Any] = {"src": str(args.src)}
    for name in names:
        runs = chosen[name]()
        lines = sum(map(len, runs))
        if args.dump:
            dumped = dump(runs, args.dump, off=args.off, cap=args.cap)
            print(f"{name}: {dumped} lines dumped to {args.dump}")
            continue
        if args.profile:
            cProfile.runctx("run_miner(runs)", globals(), {"runs": runs}, str(args.profile))
            continue
        modes = ("miner", "catalog") if args.mode == "both" else (args.mode,)
        for mode in modes:
            run = run_miner if mode == "miner" else run_catalog
            times = [run(runs) / lines * 1e6 for _ in range(args.repeats)]
            result[f"{name}/{mode}"] = {"lines": lines, "us_per_line": times}
            print(
                f"{name:15} {mode:8} {lines:7} lines  median {statistics.median(times):7.2f}"
                f" µs/line  runs {' '.join(f'{t:.2f}' for t in times)}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
