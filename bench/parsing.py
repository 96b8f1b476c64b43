"""Log parsing benchmark: premortem's template miner next to drain3, in the same run.

    python bench/parsing.py [--data ../shared/data] [--json OUT] [--quick] [--only NAME]
                            [--no-throughput]

1. Grouping Accuracy (Zhu et al., ICSE-SEIP 2019) on the 16 Loghub-2k systems, parsing the Content
   field of `<S>_2k.log_structured.csv`. premortem runs with its *default* settings; drain3 0.9.11
   gets, per system, the masking regexes, depth and similarity threshold of logpai/logparser's
   `logparser/Drain/benchmark.py` (written out in `bench/_logs.py`). Then premortem's accuracy with
   and without each heuristic (`premortem.logs.heuristics`), the others at their defaults.
2. Throughput, peak RSS, cache miss rate and templates per workload (`bench/_logs.py` describes
   them): real OpenStack service-log messages (100k and 1M lines), the 16 Loghub-2k systems with
   numbers re-drawn at varied lengths (100k lines each), and beside them the older recipe (HDFS and
   BGL, every digit re-drawn at the same length) and verbatim repeats (1M lines; 100k with
   --quick, which also leaves out the 1M OpenStack run). Each parser runs in its own subprocess
   so that its peak RSS is its own (both hold the same workload in memory). The header of each
   line is split off before the clock starts; what is timed is the parser's own call, once per
   message. premortem gets each OpenStack line's service (its log file), as the pipeline gives it;
   drain3 has no services and gets the logparser settings of Loghub's OpenStack.
   `cache_miss_rate` is the share of lines premortem had to mask and search (no cache knew their
   key), `shape_miss_rate` the share its first, cheapest key missed.

The machine is shared: absolute numbers are noisy, ratios measured in the same run less so.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from _logs import SYSTEMS, drain3_miner, workload  # noqa: E402

if TYPE_CHECKING:
    from premortem.logs.heuristics import Heuristics
    from premortem.logs.miner import PrefixTreeMiner

PARSERS = ("premortem", "drain3")

Parse = Callable[[str, str], int]


def premortem_miner(heuristics: Heuristics | None = None) -> PrefixTreeMiner:
    # imported here: the drain3 worker must not carry premortem in its peak RSS
    from premortem.logs.heuristics import Heuristics
    from premortem.logs.miner import PrefixTreeMiner

    return PrefixTreeMiner(heuristics=heuristics or Heuristics())


def parser(name: str, system: str, heuristics: Heuristics | None = None) -> Parse:
    """One parser's call on one message, returning the message's group."""
    if name == "premortem":
        add = premortem_miner(heuristics).add
        return lambda service, message: add(message, service=service).template_id
    d3 = drain3_miner(system).add_log_message
    return lambda service, message: int(d3(message)["cluster_id"])


# ---------------------------------------------------------------------------- grouping accuracy


def grouping_accuracy(truth: Sequence[str], predicted: Sequence[int]) -> float:
    """Share of lines whose predicted group holds exactly the lines of their true group."""
    true_groups: dict[str, set[int]] = defaultdict(set)
    predicted_groups: dict[int, set[int]] = defaultdict(set)
    for line, (event, group) in enumerate(zip(truth, predicted, strict=True)):
        true_groups[event].add(line)
        predicted_groups[group].add(line)
    correct = sum(
        len(lines)
        for lines in true_groups.values()
        if predicted_groups[predicted[next(iter(lines))]] == lines
    )
    return correct / len(truth)


def structured(data: Path, system: str) -> tuple[list[str], list[str]]:
    path = data / "loghub-2k" / system / f"{system}_2k.log_structured.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["Content"] for row in rows], [row["EventTemplate"] for row in rows]


def accuracy_table(data: Path) -> dict[str, dict[str, float]]:
    scores: dict[str, dict[str, float]] = {}
    for system in SYSTEMS:
        messages, truth = structured(data, system)
        scores[system] = {}
        for name in PARSERS:
            parse = parser(name, system)
            scores[system][name] = grouping_accuracy(truth, [parse("", m) for m in messages])
    return scores


def heuristics_table(data: Path) -> dict[str, dict[str, Any]]:
    """Loghub-2k grouping accuracy of premortem with and without each heuristic (others at their
    defaults): per system and on average."""
    from premortem.logs.heuristics import Heuristics

    corpus = {system: structured(data, system) for system in SYSTEMS}
    defaults = Heuristics()

    def scores(heuristics: Heuristics) -> dict[str, float]:
        result = {}
        for system, (messages, truth) in corpus.items():
            parse = parser("premortem", system, heuristics)
            result[system] = grouping_accuracy(truth, [parse("", m) for m in messages])
        return result

    table: dict[str, dict[str, Any]] = {}
    for name in Heuristics.names():
        on, off = (
            scores(defaults.switched(name, on=True)),
            scores(defaults.switched(name, on=False)),
        )
        table[name] = {
            "default": getattr(defaults, name),
            "with": _mean(list(on.values())),
            "without": _mean(list(off.values())),
            "with_by_system": on,
            "without_by_system": off,
        }
    return table


# ---------------------------------------------------------------------------- throughput


def workload_names(*, quick: bool) -> list[str]:
    """Real logs first; the recipe beside them, never alone."""
    recipe = 50 if quick else 500
    names = ["openstack-100000"] + ([] if quick else ["openstack-1000000"])
    names += [f"{system}-varlen-50" for system in SYSTEMS]
    for system in ("HDFS", "BGL"):
        names += [f"{system}-recipe-{recipe}", f"{system}-verbatim-{recipe}"]
    return names


def worker(args: argparse.Namespace) -> None:
    """Subprocess body: time one parser on one workload and report its peak RSS."""
    messages = workload(args.data, args.workload)
    system = "OpenStack" if args.workload.startswith("openstack") else args.workload.split("-")[0]
    counters: dict[str, int] = {}
    if args.worker == "premortem":
        miner = premortem_miner()
        add = miner.add
        parse: Parse = lambda service, message: add(message, service=service).template_id  # noqa: E731
    else:
        parse = parser("drain3", system)
    start = time.perf_counter()
    ids = {parse(service, message) for service, message in messages}
    elapsed = time.perf_counter() - start
    if args.worker == "premortem":
        counters = {"shape_misses": miner.shape_misses, "key_misses": miner.key_misses}
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "lines": len(messages),
        "lines_per_s": len(messages) / elapsed,
        "templates": len(ids),
        "peak_rss_mb": peak_kb / 1024,
        **counters,
    }
    print(json.dumps(result))


def measure(data: Path, name: str, load: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", name, "--workload", load, "--data", str(data)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def throughput_table(data: Path, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for load in names:
        ours, theirs = (measure(data, name, load) for name in PARSERS)
        results[load] = {
            "lines": ours["lines"],
            "pm_lines_s": round(ours["lines_per_s"]),
            "d3_lines_s": round(theirs["lines_per_s"]),
            "ratio": round(ours["lines_per_s"] / theirs["lines_per_s"], 2),
            "pm_rss_mb": round(ours["peak_rss_mb"], 1),
            "d3_rss_mb": round(theirs["peak_rss_mb"], 1),
            "cache_miss_rate": round(ours["key_misses"] / ours["lines"], 5),
            "shape_miss_rate": round(ours["shape_misses"] / ours["lines"], 5),
            "pm_templates": ours["templates"],
            "d3_templates": theirs["templates"],
        }
        print(load, json.dumps(results[load]), file=sys.stderr, flush=True)
    return results


# ---------------------------------------------------------------------------- report


def report(
    accuracy: dict[str, dict[str, float]],
    heuristics: dict[str, dict[str, Any]],
    speed: dict[str, dict[str, Any]],
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="Grouping Accuracy, Loghub-2k (premortem defaults vs drain3 tuned)")
    for column in ("system", "premortem", "drain3", "Δ"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for system, scores in accuracy.items():
        delta = scores["premortem"] - scores["drain3"]
        style = "red" if delta < -0.02 else ""
        table.add_row(
            system,
            f"{scores['premortem']:.3f}",
            f"{scores['drain3']:.3f}",
            f"{delta:+.3f}",
            style=style,
        )
    averages = {name: _mean([s[name] for s in accuracy.values()]) for name in PARSERS}
    table.add_row("average", *(f"{averages[n]:.3f}" for n in PARSERS), "", style="bold")
    console.print(table)
    if heuristics:
        table = Table(title="premortem heuristics: average Loghub-2k GA with and without each")
        for column in ("heuristic", "default", "with", "without", "systems moved ≥0.02"):
            table.add_column(column, justify="left" if column == "heuristic" else "right")
        for name, row in heuristics.items():
            moved = [
                f"{system} {row['with_by_system'][system] - off:+.2f}"
                for system, off in row["without_by_system"].items()
                if abs(row["with_by_system"][system] - off) >= 0.02
            ]
            table.add_row(
                name,
                str(row["default"]),
                f"{row['with']:.3f}",
                f"{row['without']:.3f}",
                ", ".join(moved) or "-",
            )
        console.print(table)
    if not speed:
        return
    table = Table(title="Throughput, each parser in its own process (shared 2-core machine: noisy)")
    columns = ("workload", "lines", "premortem l/s", "drain3 l/s", "ratio", "pm RSS MB")
    columns += ("d3 RSS MB", "miss rate", "shape miss", "templates p/d")
    for column in columns:
        table.add_column(column, justify="left" if column == "workload" else "right")
    for load, row in speed.items():
        table.add_row(
            load,
            f"{row['lines']:,}",
            f"{row['pm_lines_s']:,}",
            f"{row['d3_lines_s']:,}",
            f"{row['ratio']:.1f}×",
            f"{row['pm_rss_mb']:.0f}",
            f"{row['d3_rss_mb']:.0f}",
            f"{row['cache_miss_rate']:.2%}",
            f"{row['shape_miss_rate']:.1%}",
            f"{row['pm_templates']}/{row['d3_templates']}",
        )
    console.print(table)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def main() -> None:
    parser_ = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser_.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser_.add_argument("--json", type=Path, help="write the results here")
    parser_.add_argument("--quick", action="store_true", help="100k-line workloads only")
    parser_.add_argument("--no-throughput", action="store_true", help="grouping accuracy only")
    parser_.add_argument("--only", help="throughput: only workloads whose name contains this")
    parser_.add_argument("--worker", choices=PARSERS, help=argparse.SUPPRESS)
    parser_.add_argument("--workload", help=argparse.SUPPRESS)
    args = parser_.parse_args()
    if args.worker:
        worker(args)
        return
    accuracy = accuracy_table(args.data)
    heuristics = heuristics_table(args.data)
    names = [n for n in workload_names(quick=args.quick) if not args.only or args.only in n]
    speed = {} if args.no_throughput else throughput_table(args.data, names)
    report(accuracy, heuristics, speed)
    if args.json:
        averages = {name: _mean([s[name] for s in accuracy.values()]) for name in PARSERS}
        result = {
            "grouping_accuracy": accuracy,
            "average": averages,
            "heuristics": heuristics,
            "workloads": speed,
        }
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
