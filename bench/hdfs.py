"""Block-level anomaly detection on HDFS-100k with premortem's next-template detector.

    python bench/hdfs.py [--data ../shared/data] [--json OUT]

Split: blocks in time order of first appearance; the first half trains, the second half tests.
Training labels used (semi-supervised): the n-gram model learns only from the *normal* blocks of
the training half; its order and the alarm threshold are chosen by 5-fold cross-validation on the
training half (which uses the training half's normal and anomalous labels). The test half is
scored once, with nothing tuned on it.

A block's score is its most surprising step, `max -log2 P(next | previous templates)`, including
the step to an end-of-session marker (the blocks are complete sessions here).

Which templates: hdfs-100k holds each block's *event ids* (HDFS_100k_sessions_ordered.csv) but not
the raw lines they were parsed from, so the detector is scored twice and each row says which:

- ``dataset event ids``: the ids of the dataset (loglizer's own parse), as published;
- ``premortem-mined``: lines rebuilt with real HDFS text and mined by premortem itself. Each
  event's line is a real line of the same event from Loghub-2k ``HDFS_2k.log`` (its IPs, sizes
  and paths as logged, taken in turn), with that line's block id replaced by the session's; an
  event with no such line in the 2k sample has the dataset's template filled in instead (counted
  in the output). The detector then sees only the ids premortem gave these lines; the agreement of
  those ids with the dataset's (grouping accuracy) is reported beside the F1.

Throughput of the mined run includes mining: `TemplateCatalog.assign` (the pipeline's mining step,
in memory) then `Analyzer.observe`, per batch of 1,000 lines.

Anchors: loglizer's figures on the same split (PCA, InvariantsMiner, IsolationForest; the best
any event-count model can reach). The ceiling row is computed in this run from the *test labels*
(the best F1 of any classifier that sees only a block's exact template sequence); it is a bound,
not a method.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import re
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from premortem.detect.analyzer import Analyzer
from premortem.detect.sequence import END, START, NextTemplateDetector
from premortem.domain import LogRecord
from premortem.logs.catalog import TemplateCatalog
from premortem.logs.miner import PrefixTreeMiner
from premortem.logs.windows import WindowCounter

LOGLIZER = {"PCA": 0.513, "InvariantsMiner": 0.710, "IsolationForest": 0.620}
BEST_EVENT_COUNT = 0.749
TARGET_F1 = 0.80
ORDERS = (1, 2, 3, 4)
FOLDS = 5
BATCH = 1000
REQUIRED_RATE = 10_000
T0 = 1_700_000_000 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class Block:
    block_id: str
    anomalous: bool
    events: tuple[int, ...]


def load(data: Path) -> list[Block]:
    path = data / "hdfs-100k" / "HDFS_100k_sessions_ordered.csv"
    with path.open(newline="") as handle:
        return [
            Block(
                row["BlockId"],
                row["Label"] == "Anomaly",
                tuple(int(e.removeprefix("T")) for e in row["EventSequence"].split()),
            )
            for row in csv.DictReader(handle)
        ]


def train(blocks: Sequence[Block], order: int) -> NextTemplateDetector:
    detector = NextTemplateDetector(order=order)
    for block in blocks:
        context: tuple[int, ...] = (START,)
        for template in (*block.events, END):
            detector.learn_one({"context": context, "template": template})
            context = (*context, template)[-order:]
    return detector


def block_score(detector: NextTemplateDetector, block: Block) -> float:
    context: tuple[int, ...] = (START,)
    worst = 0.0
    for template in (*block.events, END):
        worst = max(worst, detector.score_one({"context": context, "template": template}))
        context = (*context, template)[-detector.order :]
    return worst


def prf(predicted: Sequence[bool], actual: Sequence[bool]) -> tuple[float, float, float]:
    tp = sum(p and a for p, a in zip(predicted, actual, strict=True))
    fp = sum(p and not a for p, a in zip(predicted, actual, strict=True))
    fn = sum(a and not p for p, a in zip(predicted, actual, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def best_threshold(scores: Sequence[float], actual: Sequence[bool]) -> tuple[float, float]:
    """The threshold (midway between two distinct scores) with the best F1, and that F1."""
    distinct = sorted(set(scores))
    candidates = [(a + b) / 2 for a, b in itertools.pairwise(distinct)]
    best = (float("inf"), 0.0)
    for threshold in candidates:
        f1 = prf([s > threshold for s in scores], actual)[2]
        if f1 > best[1]:
            best = (threshold, f1)
    return best


def cross_validate(blocks: Sequence[Block], order: int) -> tuple[float, float]:
    """Out-of-fold scores of the training half (contiguous folds) -> (threshold, F1)."""
    scores: list[float] = []
    fold_size = -(-len(blocks) // FOLDS)
    for start in range(0, len(blocks), fold_size):
        held_out = blocks[start : start + fold_size]
        rest = [b for b in (*blocks[:start], *blocks[start + fold_size :]) if not b.anomalous]
        detector = train(rest, order)
        scores.extend(block_score(detector, b) for b in held_out)
    return best_threshold(scores, [b.anomalous for b in blocks])


def sequence_ceiling(blocks: Sequence[Block]) -> float:
    """Best test F1 of any function of the exact sequence (computed from the test labels)."""
    groups: dict[tuple[int, ...], list[int]] = defaultdict(lambda: [0, 0])
    for block in blocks:
        groups[block.events][int(block.anomalous)] += 1
    anomalies = sum(a for _, a in groups.values())
    tp = fp = 0
    best = 0.0
    for normal, anomalous in sorted(groups.values(), key=lambda g: -g[1] / (g[0] + g[1])):
        tp, fp = tp + anomalous, fp + normal
        if tp:
            precision, recall = tp / (tp + fp), tp / anomalies
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def _stream(
    blocks: Sequence[Block], lines: Sequence[Sequence[str]], *, with_ids: bool
) -> list[tuple[LogRecord, int, int]]:
    """The blocks as an interleaved log stream: block i starts at i x 20 ms, one step per 50 ms;
    each record with its block and step."""
    stream = []
    for i, block in enumerate(blocks):
        for k, (template, body) in enumerate(zip(block.events, lines[i], strict=True)):
            record = LogRecord(
                time_ns=T0 + i * 20_000_000 + k * 50_000_000,
                body=body,
                service="hdfs",
                severity_number=17 if "xception" in body else 9,
                template_id=template if with_ids else None,
            )
            stream.append((record, i, k))
    stream.sort(key=lambda item: item[0].time_ns)
    return stream


def as_stream(
    blocks: Sequence[Block], lines: Sequence[Sequence[str]], *, with_ids: bool = True
) -> list[LogRecord]:
    return [record for record, _, _ in _stream(blocks, lines, with_ids=with_ids)]


def load_templates(data: Path) -> dict[int, str]:
    path = data / "hdfs-100k" / "HDFS_100k_event_templates.csv"
    with path.open(newline="") as handle:
        return {int(r["EventId"][1:]): r["EventTemplate"] for r in csv.DictReader(handle)}


_BLOCK = re.compile(r"blk_-?\d+")
_HEADER = re.compile(r"\d{6} \d{6} \d+ [A-Z]+ \S+: (.*)")


def exemplars(data: Path, templates: dict[int, str]) -> dict[int, list[str]]:
    """Real HDFS_2k.log messages per event id of hdfs-100k (the most specific template first)."""
    patterns = sorted(
        (
            (
                len(text.replace("<*>", "")),
                event,
                re.compile(".*?".join(map(re.escape, text.split("<*>")))),
            )
            for event, text in templates.items()
        ),
        reverse=True,
    )
    found: dict[int, list[str]] = defaultdict(list)
    raw = (data / "loghub-2k" / "HDFS" / "HDFS_2k.log").read_text(encoding="utf-8")
    for line in raw.splitlines():
        header = _HEADER.match(line)
        message = header.group(1) if header else line
        for _, event, pattern in patterns:
            if pattern.fullmatch(message):
                found[event].append(message)
                break
    return found


def rebuild_lines(
    blocks: Sequence[Block], templates: dict[int, str], real: dict[int, list[str]]
) -> tuple[list[list[str]], int]:
    """Each block's lines in real HDFS text (see the module docstring); and how many were filled
    from the dataset's template for want of a real line of their event."""
    turn: Counter[int] = Counter()
    filled = 0
    lines = []
    for block in blocks:
        own = []
        for event in block.events:
            examples = real.get(event)
            if examples:
                text = examples[turn[event] % len(examples)]
                turn[event] += 1
                own.append(_BLOCK.sub(block.block_id, text))
            else:
                filled += 1
                body = templates[event].replace("<*>", block.block_id, 1)
                own.append(body.replace("<*>", "10.250.19.102:50010"))
        lines.append(own)
    return lines, filled


def mine_blocks(blocks: Sequence[Block], lines: Sequence[Sequence[str]]) -> list[Block]:
    """The blocks with premortem's template ids instead of the dataset's, mined in stream order."""
    stream = _stream(blocks, lines, with_ids=False)
    TemplateCatalog(PrefixTreeMiner()).assign([record for record, _, _ in stream])
    mined = [[0] * len(block.events) for block in blocks]
    for record, i, k in stream:
        assert record.template_id is not None
        mined[i][k] = record.template_id
    return [
        Block(block.block_id, block.anomalous, tuple(events))
        for block, events in zip(blocks, mined, strict=True)
    ]


def agreement(truth: Sequence[Block], mined: Sequence[Block]) -> float:
    """Grouping accuracy of the mined ids against the dataset's, over every line."""
    true_groups: dict[int, set[int]] = defaultdict(set)
    mined_groups: dict[int, set[int]] = defaultdict(set)
    line = 0
    for ours, theirs in zip(mined, truth, strict=True):
        for mine, event in zip(ours.events, theirs.events, strict=True):
            true_groups[event].add(line)
            mined_groups[mine].add(line)
            line += 1
    of_line = {n: m for m, lines in mined_groups.items() for n in lines}
    correct = sum(
        len(lines) for lines in true_groups.values() if mined_groups[of_line[min(lines)]] == lines
    )
    return correct / line


def throughput(
    blocks: Sequence[Block], lines: Sequence[Sequence[str]], *, repeats: int = 3
) -> dict[str, object]:
    """Lines/s, best of N: mining (`TemplateCatalog.assign`) then `Analyzer.observe` (every
    detector on); `Analyzer.observe` alone on the dataset's ids; the windows alone."""
    best_mined = best_analyzer = best_windows = 0.0
    anomalies: list[str] = []
    for _ in range(repeats):
        raw = as_stream(blocks, lines, with_ids=False)
        catalog, analyzer = TemplateCatalog(PrefixTreeMiner()), Analyzer()
        started = time.perf_counter()
        for i in range(0, len(raw), BATCH):
            batch = raw[i : i + BATCH]
            catalog.assign(batch)
            analyzer.observe(batch)
        best_mined = max(best_mined, len(raw) / (time.perf_counter() - started))
        records = as_stream(blocks, lines)
        analyzer = Analyzer()
        started = time.perf_counter()
        found = [
            a
            for i in range(0, len(records), BATCH)
            for a in analyzer.observe(records[i : i + BATCH])
        ]
        best_analyzer = max(best_analyzer, len(records) / (time.perf_counter() - started))
        anomalies = [a.detector for a in found]
        counter = WindowCounter()
        started = time.perf_counter()
        counter.add_many(records)
        best_windows = max(best_windows, len(records) / (time.perf_counter() - started))
    return {
        "lines": len(records),
        "mining_and_analyzer_lines_per_s": best_mined,
        "analyzer_lines_per_s": best_analyzer,
        "windows_only_lines_per_s": best_windows,
        "required_lines_per_s": REQUIRED_RATE,
        "anomalies_online": dict(Counter(anomalies)),
    }


def evaluate(blocks: Sequence[Block]) -> dict[str, object]:
    """Train on the first half (normal blocks; order and threshold by CV), score the second."""
    half = len(blocks) // 2
    training, test = blocks[:half], blocks[half:]
    cv = {order: cross_validate(training, order) for order in ORDERS}
    order = max(ORDERS, key=lambda o: (cv[o][1], -o))
    threshold = cv[order][0]
    detector = train([b for b in training if not b.anomalous], order)
    predicted = [block_score(detector, b) > threshold for b in test]
    precision, recall, f1 = prf(predicted, [b.anomalous for b in test])
    return {
        "order": order,
        "threshold_bits": threshold,
        "cv_f1": {str(o): round(v[1], 4) for o, v in cv.items()},
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "templates": len({e for b in blocks for e in b.events}),
        "exact_sequence_ceiling_f1": sequence_ceiling(test),
    }


def run(data: Path) -> dict[str, object]:
    blocks = load(data)
    half = len(blocks) // 2
    templates = load_templates(data)
    lines, filled = rebuild_lines(blocks, templates, exemplars(data, templates))
    started = time.perf_counter()
    mined = mine_blocks(blocks, lines)
    mining_s = time.perf_counter() - started
    by_ids = evaluate(blocks)
    by_mined = evaluate(mined)
    f1 = float(by_mined["f1"])  # type: ignore[arg-type]
    return {
        "dataset": "HDFS_100k",
        "blocks": {"train": half, "test": len(blocks) - half},
        "anomalies": {
            "train": sum(b.anomalous for b in blocks[:half]),
            "test": sum(b.anomalous for b in blocks[half:]),
        },
        "training_labels": "semi-supervised: model learns normal training blocks only; order and "
        "threshold by 5-fold CV on the training half (both labels); test half untouched",
        "dataset_event_ids": by_ids,
        "premortem_mined": {
            **by_mined,
            "lines": sum(len(own) for own in lines),
            "lines_from_dataset_templates": filled,
            "grouping_accuracy_vs_event_ids": agreement(blocks, mined),
            "mining_seconds": mining_s,
        },
        "loglizer": LOGLIZER,
        "best_event_count_f1": BEST_EVENT_COUNT,
        "target_f1": TARGET_F1,
        "meets_target": f1 >= TARGET_F1,
        "throughput": throughput(blocks, lines),
    }


def show(result: dict[str, object], console: Console) -> None:
    table = Table(title="HDFS-100k block anomalies, time-ordered 50/50 split (test half)")
    for column in ("method", "templates from", "precision", "recall", "F1", "ceiling"):
        table.add_column(
            column, justify="left" if column in ("method", "templates from") else "right"
        )
    for key, source in (
        ("premortem_mined", "premortem, mined from rebuilt lines"),
        ("dataset_event_ids", "the dataset's event ids"),
    ):
        row = result[key]
        assert isinstance(row, dict)
        table.add_row(
            f"premortem next-template (order {row['order']})",
            source,
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            f"{row['exact_sequence_ceiling_f1']:.3f}",
        )
    for method, f1 in LOGLIZER.items():
        table.add_row(f"loglizer {method}", "loglizer's parse", "", "", f"{f1:.3f}", "")
    table.add_row(
        "best any event-count model",
        "the dataset's event ids",
        "",
        "",
        f"{BEST_EVENT_COUNT:.3f}",
        "",
    )
    console.print(table)
    console.print(f"training labels: {result['training_labels']}")
    mined = result["premortem_mined"]
    assert isinstance(mined, dict)
    console.print(
        f"mined: {mined['lines']:,} lines ({mined['lines_from_dataset_templates']:,} filled from "
        f"the dataset's templates, the rest real HDFS_2k.log text), {mined['templates']} "
        "templates, grouping accuracy vs the dataset's event ids "
        f"{mined['grouping_accuracy_vs_event_ids']:.3f}"
    )
    speed = result["throughput"]
    assert isinstance(speed, dict)
    console.print(
        f"{speed['lines']:,} HDFS lines: mining + Analyzer.observe (all detectors) "
        f"{speed['mining_and_analyzer_lines_per_s']:,.0f} lines/s; Analyzer.observe alone "
        f"{speed['analyzer_lines_per_s']:,.0f}; windows alone "
        f"{speed['windows_only_lines_per_s']:,.0f}; required {REQUIRED_RATE:,}; "
        "2 shared cores, noisy"
    )
    met = "met" if result["meets_target"] else "NOT met"
    console.print(f"target F1 ≥ {TARGET_F1} (mined templates): {met}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the result here")
    args = parser.parse_args(argv)
    result = run(args.data)
    show(result, Console())
    if args.json:
        args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
