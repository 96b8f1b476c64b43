"""`premortem mine`: one template per log message, as CSV (`line,template_id,template`)."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from premortem.logs.miner import PrefixTreeMiner


def register(app: typer.Typer) -> None:
    """Add the `mine` command to `app`."""
    app.command("mine")(mine)


def mine(
    input: Annotated[
        Path | None, typer.Option("--input", "-i", help="Log messages, one a line (default stdin)")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="CSV to write (default stdout)")
    ] = None,
    service: Annotated[str, typer.Option(help="Service the messages come from")] = "",
) -> None:
    """Mine templates from log messages and write each line's template as CSV."""
    from premortem.logs.miner import PrefixTreeMiner

    try:
        with _opened(input, "r") as source, _opened(output, "w") as sink:
            mine_stream(source, sink, miner=PrefixTreeMiner(), service=service)
    except OSError as exc:
        typer.echo(f"premortem mine: {exc}", err=True)
        raise typer.Exit(1) from exc


def mine_stream(
    source: IO[str], sink: IO[str], *, miner: PrefixTreeMiner, service: str = ""
) -> int:
    """Write `line,template_id,template` for every line of `source`; return the line count."""
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(("line", "template_id", "template"))
    add = miner.add
    number = 0
    for number, raw in enumerate(source, start=1):
        found = add(raw.rstrip("\r\n"), service=service)
        writer.writerow((number, found.template_id, found.template))
    return number


@contextmanager
def _opened(path: Path | None, mode: str) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdin if mode == "r" else sys.stdout
        return
    newline = "" if mode == "w" else None
    with path.open(mode, encoding="utf-8", errors="replace", newline=newline) as handle:
        yield handle
