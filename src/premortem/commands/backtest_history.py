"""`premortem backtest history [--since] [--until]`: backtest over the configured database."""

from __future__ import annotations

import warnings
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from premortem.commands.backtest import backtest_app

if TYPE_CHECKING:
    from premortem.runtime.assembly import Runtime

ROWS = (
    ("precision", "alert precision (per run)"),
    ("recall", "failed runs alerted before onset"),
    ("warned_10s_share", "delayed failures warned ≥ 10 s ahead (of those ≥ 30 s after the fault)"),
    ("median_lead_s", "median lead time (s)"),
    ("false_alarms_per_day", "false alarms per day"),
    ("fault_free_alerted_share", "fault-free runs alerted"),
    ("mode_accuracy", "failure mode right (warned runs)"),
    ("ece", "calibration error (ECE, 10 bins)"),
    ("n_test_runs", "test runs replayed"),
)


def history(
    since: Annotated[
        datetime | None,
        typer.Option(
            help="Start of the replayed range (default: where the model in use began its live "
            "stream, so the replay trains on the runs it trained on; without a model, the "
            "median run)"
        ),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(
            help="End of the replayed range (default: the newest stored record, at least "
            "where the last run's logs end)"
        ),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report here")] = None,
) -> None:
    """Train on stored runs before --since, replay the range as one live stream, score it; and
    score what premortem said live in the range against what failed (the Backtest page's
    numbers, by the same windows)."""
    from premortem.config import load_settings
    from premortem.domain import optional_ns
    from premortem.errors import ConfigError
    from premortem.evaluation.history import StoredHistoryBacktest
    from premortem.ingest.fields import rfc3339_to_ns
    from premortem.runtime.assembly import build_runtime
    from premortem.runtime.backtesting import backtest_history
    from premortem.store.engine import stored_database

    settings = load_settings()
    database = stored_database(settings.database_url)
    runtime = build_runtime(settings)
    console = Console(stderr=True)
    try:
        with warnings.catch_warnings(), console.status("backtest…") as status:
            warnings.simplefilter("ignore")
            report = backtest_history(
                runtime.pipeline.store,
                since_ns=optional_ns(since),
                live_from_ns=_live_from_ns(runtime),
                until_ns=optional_ns(until),
                horizon_s=settings.horizon_s,
                progress=lambda at, n: status.update(f"replaying {at} ({n:,} records)"),
                series=runtime.trainer.series,
                facts=runtime.overview,
            )
            live = StoredHistoryBacktest(runtime).report(
                since_ns=rfc3339_to_ns(report["since"]),
                until_ns=rfc3339_to_ns(report["until"]),
                service=None,
            )
            report["live"] = {"model": live.model.to_json(), "baseline": live.baseline.to_json()}
    except ConfigError as exc:
        raise ConfigError(f"{exc} (in {database})") from exc
    finally:
        runtime.engine.dispose()
    Console().print(_table(report))
    Console().print(_live_table(report["live"]))
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))


def _live_from_ns(runtime: Runtime) -> int | None:
    """Where the model in use began its live stream (its summary's `live_from_ns`): replayed
    from there, the replay trains on the runs it trained on, and its section and the live one
    score the same model (a trial's default, the median run, replayed a model trained on fewer
    runs: precision 0.43 against the live 1.00)."""
    latest = runtime.models.latest()
    live_from = latest.summary.get("live_from_ns") if latest is not None else None
    return int(live_from) if live_from is not None else None


def _table(report: dict[str, Any]) -> Table:
    table = Table(title=f"Backtest {report['since']} … {report['until']}")
    table.add_column("metric")
    table.add_column("premortem", justify="right")
    table.add_column("first ERROR line", justify="right")
    for key, label in ROWS:
        table.add_row(label, _cell(report["model"].get(key)), _cell(report["baseline"].get(key)))
    return table


LIVE_ROWS = (
    ("alerts", "alerts (premortem: stored; baseline: first ERROR lines)"),
    ("right_alerts", "followed by a failure within the horizon"),
    ("failures", "failures stored (runs, events, seen live)"),
    ("warned", "failures warned before"),
    ("median_lead_s", "median lead time (s)"),
)


def _live_table(live: dict[str, Any]) -> Table:
    table = Table(title="Live in the same range (as the Backtest page scores it)")
    table.add_column("metric")
    table.add_column("premortem", justify="right")
    table.add_column("first ERROR line", justify="right")
    for key, label in LIVE_ROWS:
        table.add_row(label, _cell(live["model"].get(key)), _cell(live["baseline"].get(key)))
    return table


def _cell(value: object) -> str:
    return "–" if value is None else str(value)


def register(_app: typer.Typer) -> None:
    backtest_app.command("history")(history)
