"""Foresight on a system premortem has never seen, through the public API, as a new user would.

A recorded suite (`runs.json`, `logs.jsonl`, `truth.json`; by default the inventory lab is
recorded first with `python -m premortem.labs record`) is split in time order. A fresh
`premortem serve` (SQLite) gets the earlier half's test runs and logs over HTTP, trains with
`POST /api/v1/train`, gets the later half's test runs, then the later half's logs are sent with
`premortem replay logs` and the alerts are read back from `GET /api/v1/alerts`. They are scored
by the same scorer as every backtest (`premortem.learn.suite_backtest.score_intervals`), next to
the anchor in the same run: the naive "first ERROR line" baseline, and the offline `premortem
backtest suite` of the suite.

    python bench/foresight.py [--suite DIR | --system inventory|bookings|orders --pace P --noise R]
                              [--json OUT]

`--pace 10 --noise 0.1` records the lab with slow faults (failures 30-130 s after the fault, so
"warned ≥ 10 s ahead" is measured) and everyday ERROR lines (docs/labs.md).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.table import Table

from _server import start_server
from premortem.domain import rfc3339_ns
from premortem.evaluation.scoring import score
from premortem.ingest.native import log_record
from premortem.learn.suite_backtest import (
    Suite,
    backtest_suite,
    common_kind,
    mode_kinds,
    read_suite,
    score_intervals,
    split_suite,
)
from premortem.runtime.training import run_windows_ns

FOREVER = 1 << 62
PAGE = 100
KEYS = (
    ("precision", "alert precision (per run)"),
    ("fault_free_alerted_share", "fault-free runs alerted"),
    ("median_lead_s", "median lead time (s)"),
    ("mode_accuracy", "failure mode right"),
    ("warned_10s_share", "delayed failures warned ≥ 10 s"),
    ("n_test_runs", "runs replayed"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--suite", type=Path, help="a recorded suite (default: record the lab)")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument(
        "--pace", type=float, default=1.0, help="record the lab with faults this many times slower"
    )
    parser.add_argument(
        "--noise", type=float, default=0.0, help="record the lab with client mistakes per second"
    )
    parser.add_argument(
        "--system", default="inventory", help="which lab to record: inventory, bookings or orders"
    )
    parser.add_argument(
        "--all-first",
        action="store_true",
        help="send every run and every line first, train with `?until=` the later half's start, "
        "then replay the later half's lines again (a recording sent whole before training)",
    )
    args = parser.parse_args()
    console = Console()
    path = args.suite or record_lab(console, system=args.system, pace=args.pace, noise=args.noise)
    warnings.simplefilter("ignore")  # pgmpy's FutureWarnings
    suite = read_suite(path)
    api = through_the_api(path, suite, console, all_first=args.all_first)
    offline = backtest_suite(suite)
    offline.pop("details", None)
    report = {"suite": str(path), "api": api, "offline": offline}
    console.print(table(report))
    console.print(f"counts through the API: {api['counts']}")
    if args.json:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))


def record_lab(console: Console, *, system: str, pace: float, noise: float) -> Path:
    """A lab's suite (seed 1), recorded once per system, pace and noise, kept under .bench/."""
    out = Path(
        ".bench/lab-suite"
        + ("" if system == "inventory" else f"-{system}")
        + (f"-pace{pace:g}-noise{noise:g}" if (pace, noise) != (1, 0) else "")
    )
    if not (out / "runs.json").is_file():
        minutes = "about 7 minutes" if pace == 1 else "about half an hour"
        console.print(f"recording the {system} lab suite ({minutes}) …")
        command = [sys.executable, "-m", "premortem.labs", "record", str(out), "--seed", "1"]
        command += ["--system", system, "--pace", f"{pace:g}", "--noise", f"{noise:g}"]
        subprocess.run(command, check=True)
    return out


def through_the_api(
    path: Path, suite: Suite, console: Console, *, all_first: bool = False
) -> dict[str, Any]:
    """Train and replay through a real server; score its alerts. With `all_first`, the whole
    recording is sent before a training held to the earlier half (`?until=`), and the later
    half's lines are then sent again."""
    training, replayed = split_suite(suite)
    windows = run_windows_ns(suite.runs)
    cut = min(windows[r.test_id][0] for r in replayed)
    docs = [orjson.loads(x) for x in (path / "logs.jsonl").read_bytes().splitlines() if x.strip()]
    is_early = [log_record(d, 0).time_ns < cut for d in docs]
    early = [d for d, yes in zip(docs, is_early, strict=True) if yes]
    late = [d for d, yes in zip(docs, is_early, strict=True) if not yes]
    runs = orjson.loads((path / "runs.json").read_bytes())
    trained_ids = {r.test_id for r in training}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        process, url = start_server(work, {"PREMORTEM_DATABASE_URL": f"sqlite:///{work}/p.db"})
        try:
            with httpx.Client(base_url=url, timeout=300) as http:
                sent_runs = runs if all_first else [r for r in runs if r["test_id"] in trained_ids]
                sent_lines = docs if all_first else early
                post(http, "/api/v1/test-runs", sent_runs)
                for start in range(0, len(sent_lines), 1000):
                    post(http, "/api/v1/logs", sent_lines[start : start + 1000])
                until = f"?until={rfc3339_ns(cut)}" if all_first else ""
                trained = post(http, f"/api/v1/train{until}", None)
                console.print(f"trained: {trained['modes']} modes, threshold {trained['stats']}")
                if not all_first:
                    # The later runs reported, as a chaos tool reports each when it ends; sent
                    # before their lines, each still ends its incident at its end.
                    post(
                        http,
                        "/api/v1/test-runs",
                        [r for r in runs if r["test_id"] not in trained_ids],
                    )
                time.sleep(6)  # the prediction stage looks for a new model every 5 s
                replay_file = work / "later.jsonl"
                replay_file.write_bytes(b"\n".join(orjson.dumps(d) for d in late))
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "premortem.cli",
                        "replay",
                        "logs",
                        str(replay_file),
                        "--url",
                        url,
                    ],
                    check=True,
                )
                time.sleep(3)  # the analysis thread finishes the last batch
                alerts = every(http, "/api/v1/alerts")
                modes = every(http, "/api/v1/failure-modes")
        finally:
            process.terminate()
            process.wait(15)
    kinds = mode_kinds({m["id"]: m["evidence"]["test_runs"] for m in modes}, suite.runs)
    intervals = [
        (
            a["started_ns"],
            a["resolved_ns"] or FOREVER,
            kinds.get(a["mode_id"], a["mode_id"]),
            float(a.get("probability_at_start", a["probability"])),
        )
        for a in alerts
    ]
    outcomes = score_intervals(
        suite, replayed, windows, intervals, baseline_kind=common_kind(training)
    )
    report = score(outcomes, "model")
    report["baseline"] = score(outcomes, "baseline")
    report["alerts"] = len(alerts)
    return report


def post(http: httpx.Client, path: str, body: Any) -> Any:
    response = http.post(path, json=body) if body is not None else http.post(path)
    if response.status_code >= 300:
        raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
    return response.json()


def every(http: httpx.Client, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = http.get(path, params={"limit": PAGE, "offset": len(items)}).json()
        items += page["items"]
        if len(items) >= page["total"] or not page["items"]:
            return items


def table(report: dict[str, Any]) -> Table:
    out = Table(title=f"Foresight on {report['suite']} (later half)")
    out.add_column("metric")
    out.add_column("premortem via the API", justify="right")
    out.add_column("premortem offline", justify="right")
    out.add_column("anchor: first ERROR line", justify="right")
    api, offline = report["api"], report["offline"]
    for key, label in KEYS:
        out.add_row(label, _fmt(api.get(key)), _fmt(offline.get(key)), _fmt(api["baseline"][key]))
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
