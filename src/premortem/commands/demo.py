"""`premortem demo`: the whole loop on one machine, with nothing faked (see docs/demo.md).

premortem in-process on a fresh SQLite file, a real service with a real database and pool, real
Chaos Toolkit runs, training, then a live connection leak that ends in a real failure: the alert
must arrive before the first failure line. `--exit` ends with one JSON line and exit code 0 only
if it did.
"""

from __future__ import annotations

import atexit
import json
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from premortem.errors import PremortemError

if TYPE_CHECKING:
    from rich.progress import TaskID


class RichUI:
    """One progress bar per phase; notes print above the bars."""

    def __init__(self, console: Console) -> None:
        # Imported here: `premortem --help` does not pay for rich's progress machinery.
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichUI:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()
        self.progress.stop()

    def phase(self, name: str, total: float) -> None:
        self.finish()
        self._task = self.progress.add_task(name, total=total, note="")

    def advance(self, amount: float = 1.0, note: str = "") -> None:
        if self._task is not None:
            fields: dict[str, Any] = {"note": note} if note else {}
            self.progress.update(self._task, advance=amount, **fields)

    def note(self, text: str) -> None:
        self.progress.console.print(f"  {escape(text)}")

    def finish(self) -> None:
        if self._task is not None:
            task = self.progress.tasks[-1]
            self.progress.update(self._task, completed=task.total)
            self._task = None


def demo(
    quick: Annotated[
        bool, typer.Option("--quick", help="Fewer, shorter experiments (≤ 90 s)")
    ] = False,
    exit_: Annotated[
        bool, typer.Option("--exit", help="Stop after the live phase; print one JSON line last")
    ] = False,
    port: Annotated[int, typer.Option(help="Port for premortem's API and dashboard")] = 8080,
) -> None:
    """Run the demo lab: a real service, real chaos experiments, an alert before the failure."""
    from premortem.demo.orchestrator import Demo, DemoOptions, DemoResult
    from premortem.demo.servers import port_is_free

    console = Console(highlight=False)
    if not port_is_free(port):
        raise PremortemError(f"port {port} is taken: pass --port with a free one")
    ui = RichUI(console)
    demo_run = Demo(DemoOptions(quick=quick, port=port), ui)
    _install_cleanup(demo_run.close)
    result = DemoResult()
    try:
        with ui:
            result = demo_run.run()
    except PremortemError as exc:
        result = demo_run.result
        result.error = str(exc)
        console.print(f"[red]demo stopped:[/] {escape(str(exc))}")
    except KeyboardInterrupt:
        demo_run.close()
        console.print("interrupted: everything the demo started was stopped")
        raise typer.Exit(130) from None
    _report(console, result, workdir=str(demo_run.workdir))
    if not exit_ and result.error is None:
        console.print(f"\nDashboard: [bold]{result.dashboard_url}[/]  ·  Ctrl-C stops the demo")
        _wait_for_interrupt()
    demo_run.close()
    if exit_:
        sys.stdout.flush()
        print(json.dumps(result.summary()), flush=True)
    raise typer.Exit(0 if result.alert_before_failure else 1)


def _report(console: Console, result: Any, *, workdir: str) -> None:
    if result.experiments:
        table = Table(title="Chaos Toolkit runs")
        table.add_column("experiment")
        table.add_column("outcome")
        for run in result.experiments:
            style = "red" if run["outcome"] == "deviated" else "green"
            table.add_row(escape(run["title"]), f"[{style}]{escape(run['outcome'])}[/]")
        console.print(table)
    if result.failure_mode:
        mitigation = result.mitigations[0] if result.mitigations else "(none learned)"
        # Mode names, mitigations and log lines come from outside: shown as text, never markup.
        lines = [
            f"failure mode   {escape(result.failure_mode)}",
            f"probability    {result.probability:.0%}",
            f"alert at       {result.alert_at}",
            f"mitigation     {escape(mitigation)}",
        ]
        console.print(Panel("\n".join(lines), title="premortem alert", border_style="yellow"))
    if result.lead_time_s is not None:
        verdict = "[green]before[/]" if result.alert_before_failure else "[red]after[/]"
        console.print(
            f"The alert came {verdict} the first failure line ({result.first_failure_at}): "
            f"lead time [bold]{result.lead_time_s:.1f} s[/]\n  first failure line: "
            f"{escape(result.first_failure_line or '')}"
        )
    if result.error:
        console.print(f"[red]{escape(result.error)}[/]")
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in result.phases_s.items())
    console.print(f"phases: {phases} · files in {workdir}")
    if result.dashboard_url:
        console.print(f"dashboard: {result.dashboard_url}")


def _install_cleanup(close: Any) -> None:
    """Children end on every exit path: normal exit, exceptions, SIGTERM/SIGHUP, Ctrl-C."""
    atexit.register(close)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, on_signal)


def _wait_for_interrupt() -> None:
    stop = threading.Event()
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    app.command()(demo)
