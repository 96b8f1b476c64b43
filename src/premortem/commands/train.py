"""`premortem train`: retrain the correlation engine on everything in the configured database."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def train(
    until: Annotated[
        datetime | None,
        typer.Option(
            help="Train on the runs that started before this time only (hold out the rest)"
        ),
    ] = None,
) -> None:
    """Learn failure modes from stored test runs, logs, events, simulations and alert feedback."""
    from premortem.config import load_settings
    from premortem.domain import optional_ns
    from premortem.runtime.assembly import build_runtime
    from premortem.store.engine import stored_database

    console = Console(stderr=True)
    settings = load_settings()
    stored_database(settings.database_url)
    runtime = build_runtime(settings)
    try:
        with console.status("training…") as status:
            result = runtime.trainer.run(
                progress=lambda step: status.update(f"training: {step}"),
                until_ns=optional_ns(until),
            )
    finally:
        runtime.engine.dispose()
    table = Table(title=f"model version {result.version}")
    table.add_column("failure modes", justify="right")
    table.add_column("new", justify="right")
    table.add_column("updated", justify="right")
    table.add_column("retired", justify="right")
    table.add_column("runs", justify="right")
    table.add_column("alert threshold", justify="right")
    table.add_row(
        str(result.modes),
        str(result.created),
        str(result.updated),
        str(result.retired),
        str(result.stats.get("runs", 0)),
        f"{result.stats.get('threshold', 0):.2f}",
    )
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command()(train)
