"""The `premortem` command line: a thin shell over the runtime and the HTTP API.

Each feature registers its commands from its own module under premortem.commands. Every failure
prints one line to stderr and exits non-zero.
"""

from __future__ import annotations

import importlib
import sys

import typer

from premortem import __version__
from premortem.errors import PremortemError

app = typer.Typer(
    name="premortem",
    help="Predict failure modes before they show up in the logs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Feature modules that add commands; a module missing from an install is skipped, not fatal.
COMMAND_MODULES = (
    "serve",
    "worker",
    "ingest",
    "mine",
    "simulate",
    "train",
    "backtest",
    "backtest_history",
    "replay",
    "demo",
)


@app.command()
def version() -> None:
    """Print premortem's version."""
    typer.echo(__version__)


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"premortem.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"premortem.commands.{name}":
                raise
            continue
        module.register(app)


_register_commands()


def main() -> None:
    try:
        app()
    except PremortemError as exc:
        typer.echo(f"premortem: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
