"""`premortem backtest …`: replay history through the predictor and score it.

`premortem backtest openstack-fi PATH [--train PATH2] [--json OUT]` trains on the earlier half of
each campaign of an OpenStack fault-injection directory (or on every experiment of PATH2) and
replays the rest, next to the naive "first ERROR line" baseline. `premortem backtest suite DIR`
does the same on a recorded suite of native test runs and logs (learn/suite_backtest.py).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from rich.progress import Progress

backtest_app = typer.Typer(
    help="Replay history through the predictor and score it.", no_args_is_help=True
)

METRICS = (
    (
        "warned_10s_share",
        "delayed failures warned ≥ 10 s ahead (of those ≥ 30 s after the fault)",
        "higher",
    ),
    ("precision", "alert precision (per run)", "higher"),
    ("fault_free_alerted_share", "fault-free runs alerted", "lower"),
    ("harmless_alerted_share", "harmless faulty runs alerted", "lower"),
    ("median_lead_s", "median lead time (s)", "higher"),
    ("mode_accuracy", "failure mode right (warned runs)", "higher"),
    ("false_alarms_per_day", "false alarms per day of logs", "lower"),
    ("brier", "Brier score of alert probabilities", "lower"),
    ("ece", "calibration error (ECE, 10 bins)", "lower"),
    ("n_test_runs", "test runs replayed", ""),
)


# Options every backtest takes.
JsonOut = Annotated[Path | None, typer.Option("--json", help="Write the report here")]
ValidateOnly = Annotated[
    bool,
    typer.Option(
        "--validate-only",
        help="Score by rolling-origin folds inside the earlier half; never read the later half",
    ),
]
Folds = Annotated[int, typer.Option(help="Folds of --validate-only")]


def register(app: typer.Typer) -> None:
    """Add the `backtest` command group to `app`."""
    app.add_typer(backtest_app, name="backtest")


@backtest_app.command("openstack-fi")
def openstack_fi(
    path: Annotated[Path, typer.Argument(help="Directory laid out like openstack-fi")],
    train_path: Annotated[
        Path | None, typer.Option("--train", help="Train on every experiment here instead")
    ] = None,
    json_out: JsonOut = None,
    validate_only: ValidateOnly = False,
    folds: Folds = 2,
    protocol: Annotated[
        str,
        typer.Option(help="--validate-only protocol: rolling (origin) or systems (leave one out)"),
    ] = "rolling",
) -> None:
    """Train on earlier experiments, replay later ones, compare with the first-ERROR baseline."""
    from premortem.learn.openstack_backtest import backtest_openstack, validate_openstack
    from premortem.learn.openstack_fi import discover

    started = time.perf_counter()
    console = Console(stderr=True)
    total = len(discover(path)) * 2 + (len(discover(train_path)) * 2 if train_path else 0)
    if validate_only:
        total = len(discover(path)) * (folds + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pgmpy's FutureWarnings are not the user's business
        with _progress(console) as progress:
            task = progress.add_task("loading", total=total)

            def advance(message: str, _: int) -> None:
                progress.update(task, advance=1, description=message[:60])

            if validate_only:
                if protocol not in ("rolling", "systems"):
                    raise typer.BadParameter("--protocol must be rolling or systems")
                report = validate_openstack(path, folds=folds, protocol=protocol, progress=advance)
            else:
                report = backtest_openstack(path, train_path=train_path, progress=advance)
    title = "validation inside the earlier half" if validate_only else "later half"
    Console().print(report_table(report, title=title))
    # How long it took goes to the terminal, not into the report: the same inputs give the
    # same JSON, byte for byte (issue 12).
    console.print(f"took {time.perf_counter() - started:.0f} s")
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))


@backtest_app.command("suite")
def suite(
    path: Annotated[
        Path, typer.Argument(help="Directory with runs.json, logs.jsonl and optional truth.json")
    ],
    json_out: JsonOut = None,
    validate_only: ValidateOnly = False,
    folds: Folds = 2,
) -> None:
    """Train on a recorded suite's earlier runs, replay the later ones as one live stream."""
    from premortem.learn.suite_backtest import backtest_suite, read_suite, validate_suite

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pgmpy's FutureWarnings are not the user's business
        Console(stderr=True).print(f"reading {path}")
        recorded = read_suite(path)
        if validate_only:
            report = validate_suite(recorded, folds=folds)
        else:
            report = backtest_suite(recorded)
    half = "validation inside the earlier half" if validate_only else "later half"
    Console().print(report_table(report, title=f"suite {path.name}, {half}", name="Suite"))
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))


def _progress(console: Console) -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def report_table(
    report: dict[str, Any], *, title: str = "later half", name: str = "OpenStack fault-injection"
) -> Table:
    table = Table(title=f"{name} backtest ({title})")
    table.add_column("metric")
    table.add_column("premortem", justify="right")
    table.add_column("baseline: first ERROR line", justify="right")
    table.add_column("better", justify="center")
    for key, label, direction in METRICS:
        mine, base = report.get(key), report["baseline"].get(key)
        table.add_row(label, _fmt(mine), _fmt(base), _better(mine, base, direction))
    return table


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _better(mine: Any, base: Any, direction: str) -> str:
    if not direction or mine is None or base is None:
        return ""
    ok = mine >= base if direction == "higher" else mine <= base
    return "yes" if ok else "no"
