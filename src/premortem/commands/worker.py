"""`premortem worker`: an analysis worker for scale-out (NATS JetStream + PostgreSQL).

Run `premortem serve` and any number of `premortem worker` with the same
`PREMORTEM_DATABASE_URL` (PostgreSQL) and `PREMORTEM_BUS_URL` (nats://host:4222): the server
publishes accepted log records, the workers share the partitions, mine, store and analyse them,
and one of them predicts and alerts (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import logging
import signal

import typer
from rich.console import Console


def worker() -> None:
    """Analyse the log stream of a scale-out deployment (needs PREMORTEM_BUS_URL)."""
    from premortem.config import load_settings
    from premortem.errors import PremortemError
    from premortem.runtime.worker import Worker

    settings = load_settings()
    console = Console(stderr=True)
    _log_ownership()
    running = Worker(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, stop.set)

        def ready() -> None:
            owned = ", ".join(str(p) for p in sorted(running.partitions)) or "none yet"
            role = " and predicts" if running.predicting else ""
            console.print(f"premortem worker: partitions {owned}{role} (bus {settings.bus_url})")

        await running.run(stop, on_ready=ready)

    try:
        asyncio.run(main())
    except ConnectionError as exc:
        raise PremortemError(f"{exc} (PREMORTEM_BUS_URL)") from exc
    cpu = ", ".join(f"{what} {seconds:.1f} s" for what, seconds in running.cpu_s.items())
    console.print(
        f"premortem worker stopped after {running.records_done} records (CPU: {cpu})",
        soft_wrap=True,  # one line, whatever the width: bench/scaleout.py reads it
    )


def _log_ownership() -> None:
    """The worker's own INFO lines on standard error — the partitions it takes and gives back,
    the prediction role — so an operator sees who owns what after a rebalance or a takeover."""
    log = logging.getLogger("premortem.runtime.worker")
    if not log.handlers:  # once per process, however often the command runs in it
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s premortem %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def register(app: typer.Typer) -> None:
    app.command()(worker)
