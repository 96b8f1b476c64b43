"""Log parsing benchmark: premortem's template miner next to drain3, in the same run.

    python bench/parsing.py [--data ../shared/data] [--json OUT] [--quick]

1. Grouping Accuracy (Zhu et al., ICSE-SEIP 2019) on the 16 Loghub-2k systems, parsing the Content
   field of `<S>_2k.log_structured.csv`. premortem runs with its *default* settings; drain3 0.9.11
   gets, per system, the masking regexes, depth and similarity threshold of logpai/logparser's
   `logparser/Drain/benchmark.py` (written out below).
2. Throughput and peak RSS on 1M HDFS-like and 1M BGL-like lines: `<S>_2k.log` repeated 500 times,
   copy 0 verbatim, in copies 1-499 every digit replaced by a seeded random digit (and, quoted
   beside it, 500 verbatim copies). Each parser runs in its own subprocess so that its peak RSS is
   its own. The header of each line is split off before the clock starts (the same regex for both
   parsers); what is timed is the parser's own call, once per message.

The machine is shared: absolute numbers are noisy, ratios measured in the same run less so.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import resource
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# Per-system settings of the logparser Drain benchmark: header format, masking regexes, depth, st.
LOGPARSER_DRAIN: dict[str, dict[str, Any]] = {
    "HDFS": dict(
        fmt="<Date> <Time> <Pid> <Level> <Component>: <Content>",
        regex=[r"blk_-?\d+", r"(\d+\.){3}\d+(:\d+)?"],
        st=0.5,
        depth=4,
    ),
    "Hadoop": dict(
        fmt=r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>",
        regex=[r"(\d+\.){3}\d+"],
        st=0.5,
        depth=4,
    ),
    "Spark": dict(
        fmt="<Date> <Time> <Level> <Component>: <Content>",
        regex=[r"(\d+\.){3}\d+", r"\b[KGTM]?B\b", r"([\w-]+\.){2,}[\w-]+"],
        st=0.5,
        depth=4,
    ),
    "Zookeeper": dict(
        fmt=r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
        regex=[r"(/|)(\d+\.){3}\d+(:\d+)?"],
        st=0.5,
        depth=4,
    ),
    "BGL": dict(
        fmt="<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> "
        "<Content>",
        regex=[r"core\.\d+"],
        st=0.5,
        depth=4,
    ),
    "HPC": dict(
        fmt="<LogId> <Node> <Component> <State> <Time> <Flag> <Content>",
        regex=[r"=\d+"],
        st=0.5,
        depth=4,
    ),
    "Thunderbird": dict(
        fmt=r"<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> "
        r"<Component>(\[<PID>\])?: <Content>",
        regex=[r"(\d+\.){3}\d+"],
        st=0.5,
        depth=4,
    ),
    "Windows": dict(
        fmt="<Date> <Time>, <Level>                  <Component>    <Content>",
        regex=[r"0x.*?\s"],
        st=0.7,
        depth=5,
    ),
    "Linux": dict(
        fmt=r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>",
        regex=[r"(\d+\.){3}\d+", r"\d{2}:\d{2}:\d{2}"],
        st=0.39,
        depth=6,
    ),
    "Android": dict(
        fmt="<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>",
        regex=[
            r"(/[\w-]+)+",
            r"([\w-]+\.){2,}[\w-]+",
            r"\b(\-?\+?\d+)\b|\b0[Xx][a-fA-F\d]+\b|\b[a-fA-F\d]{4,}\b",
        ],
        st=0.2,
        depth=6,
    ),
    "HealthApp": dict(fmt=r"<Time>\|<Component>\|<Pid>\|<Content>", regex=[], st=0.2, depth=4),
    "Apache": dict(
        fmt=r"\[<Time>\] \[<Level>\] <Content>", regex=[r"(\d+\.){3}\d+"], st=0.5, depth=4
    ),
    "Proxifier": dict(
        fmt=r"\[<Time>\] <Program> - <Content>",
        regex=[r"<\d+\ssec", r"([\w-]+\.)+[\w-]+(:\d+)?", r"\d{2}:\d{2}(:\d{2})*", r"[KGTM]B"],
        st=0.6,
        depth=3,
    ),
    "OpenSSH": dict(
        fmt=r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
        regex=[r"(\d+\.){3}\d+", r"([\w-]+\.){2,}[\w-]+"],
        st=0.6,
        depth=5,
    ),
    "OpenStack": dict(
        fmt=r"<Logrecord> <Date> <Time> <Pid> <Level> <Component> \[<ADDR>\] <Content>",
        regex=[r"((\d+\.){3}\d+,?)+", r"/.+?\s", r"\d+"],
        st=0.5,
        depth=5,
    ),
    "Mac": dict(
        fmt=r"<Month>  <Date> <Time> <User> <Component>\[<PID>\]( \(<Address>\))?: <Content>",
        regex=[r"([\w-]+\.){2,}[\w-]+"],
        st=0.7,
        depth=6,
    ),
}
PARSERS = ("premortem", "drain3")
THROUGHPUT_SYSTEMS = ("HDFS", "BGL")

Parse = Callable[[str], int]


def premortem_parser(system: str) -> Parse:
    from premortem.logs.miner import DrainMiner

    add = DrainMiner().add
    return lambda message: add(message).template_id


def drain3_parser(system: str) -> Parse:
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    setting = LOGPARSER_DRAIN[system]
    config = TemplateMinerConfig()
    config.profiling_enabled = False
    config.drain_depth = setting["depth"]
    config.drain_sim_th = setting["st"]
    config.masking_instructions = [MaskingInstruction(rx, "*") for rx in setting["regex"]]
    add = TemplateMiner(config=config).add_log_message
    return lambda message: int(add(message)["cluster_id"])


FACTORIES: dict[str, Callable[[str], Parse]] = {
    "premortem": premortem_parser,
    "drain3": drain3_parser,
}


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
    for system in LOGPARSER_DRAIN:
        messages, truth = structured(data, system)
        scores[system] = {}
        for name in PARSERS:
            parse = FACTORIES[name](system)
            scores[system][name] = grouping_accuracy(truth, [parse(m) for m in messages])
    return scores


# ---------------------------------------------------------------------------- throughput


def header_regex(fmt: str) -> re.Pattern[str]:
    """The logparser header format as a regex whose `Content` group is the message."""
    pieces = re.split(r"(<[^<>]+>)", fmt)
    pattern = ""
    for piece in pieces:
        if piece.startswith("<") and piece.endswith(">"):
            pattern += f"(?P<{piece[1:-1]}>.*?)"
        else:
            pattern += re.sub(" +", r"\\s+", piece)
    return re.compile(f"^{pattern}$")


def workload(data: Path, system: str, *, copies: int, varied: bool, seed: int) -> list[str]:
    """Messages of `copies` copies of `<S>_2k.log`; digits re-drawn in copies 1.. if `varied`."""
    import numpy as np

    raw = (data / "loghub-2k" / system / f"{system}_2k.log").read_bytes()
    rng = np.random.default_rng(seed)
    header = header_regex(LOGPARSER_DRAIN[system]["fmt"])
    messages: list[str] = []
    for copy in range(copies):
        text = raw
        if varied and copy > 0:
            buffer = np.frombuffer(raw, dtype=np.uint8).copy()
            digits = (buffer >= ord("0")) & (buffer <= ord("9"))
            buffer[digits] = rng.integers(ord("0"), ord("9") + 1, int(digits.sum()))
            text = buffer.tobytes()
        for line in text.decode("utf-8", "replace").splitlines():
            found = header.match(line.strip())
            messages.append(found.group("Content") if found else line)
    return messages


def worker(args: argparse.Namespace) -> None:
    """Subprocess body: time one parser on one workload and report its peak RSS."""
    messages = workload(args.data, args.system, copies=args.copies, varied=args.varied, seed=7)
    parse = FACTORIES[args.worker](args.system)
    baseline_kb = _current_rss_kb()
    start = time.perf_counter()
    ids = {parse(message) for message in messages}
    elapsed = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "lines": len(messages),
                "seconds": elapsed,
                "lines_per_s": len(messages) / elapsed,
                "templates": len(ids),
                "peak_rss_mb": peak_kb / 1024,
                "parser_rss_mb": (peak_kb - baseline_kb) / 1024,
            }
        )
    )


def _current_rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measure(data: Path, name: str, system: str, *, copies: int, varied: bool) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", name, "--system", system]
    command += ["--data", str(data), "--copies", str(copies)]
    command += ["--varied"] if varied else []
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def throughput_table(data: Path, *, copies: int) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for system in THROUGHPUT_SYSTEMS:
        for varied in (True, False):
            key = f"{system}-{'varied' if varied else 'verbatim'}"
            results[key] = {
                name: measure(data, name, system, copies=copies, varied=varied) for name in PARSERS
            }
            ours, theirs = results[key]["premortem"], results[key]["drain3"]
            results[key]["speedup"] = ours["lines_per_s"] / theirs["lines_per_s"]
            results[key]["rss_delta_mb"] = ours["peak_rss_mb"] - theirs["peak_rss_mb"]
    return results


# ---------------------------------------------------------------------------- report


def report(accuracy: dict[str, dict[str, float]], speed: dict[str, dict[str, Any]]) -> None:
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
    if not speed:
        return
    table = Table(title="Throughput (1 process each, shared 2-core machine: noisy)")
    for column in (
        "workload",
        "premortem lines/s",
        "drain3 lines/s",
        "speed-up",
        "premortem peak RSS MB",
        "drain3 peak RSS MB",
        "templates p/d",
    ):
        table.add_column(column, justify="right")
    for key, row in speed.items():
        ours, theirs = row["premortem"], row["drain3"]
        table.add_row(
            f"{ours['lines']:,} {key}",
            f"{ours['lines_per_s']:,.0f}",
            f"{theirs['lines_per_s']:,.0f}",
            f"{row['speedup']:.1f}×",
            f"{ours['peak_rss_mb']:.0f}",
            f"{theirs['peak_rss_mb']:.0f}",
            f"{ours['templates']}/{theirs['templates']}",
        )
    console.print(table)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--quick", action="store_true", help="100k lines instead of 1M")
    parser.add_argument("--no-throughput", action="store_true", help="grouping accuracy only")
    parser.add_argument("--worker", choices=PARSERS, help=argparse.SUPPRESS)
    parser.add_argument("--system", help=argparse.SUPPRESS)
    parser.add_argument("--copies", type=int, default=500, help=argparse.SUPPRESS)
    parser.add_argument("--varied", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    accuracy = accuracy_table(args.data)
    copies = 50 if args.quick else 500
    speed = {} if args.no_throughput else throughput_table(args.data, copies=copies)
    report(accuracy, speed)
    if args.json:
        averages = {name: _mean([s[name] for s in accuracy.values()]) for name in PARSERS}
        result = {"grouping_accuracy": accuracy, "average": averages, "throughput": speed}
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
