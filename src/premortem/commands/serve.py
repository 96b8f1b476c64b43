"""`premortem serve`: the HTTP API and dashboard on the configured database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from premortem.config import Settings


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8080)")] = None,
    example: Annotated[
        bool, typer.Option("--example", help="Load the bundled seed example once the server is up")
    ] = False,
    syslog_tcp: Annotated[
        int | None,
        typer.Option(
            "--syslog-tcp",
            metavar="PORT",
            min=1,
            max=65535,
            help="Also take syslog on this TCP port",
        ),
    ] = None,
    syslog_udp: Annotated[
        int | None,
        typer.Option(
            "--syslog-udp",
            metavar="PORT",
            min=1,
            max=65535,
            help="Also take syslog on this UDP port",
        ),
    ] = None,
    syslog_host: Annotated[
        str | None,
        typer.Option(help="Address the syslog ports bind (default 127.0.0.1; no token is asked)"),
    ] = None,
) -> None:
    """Run the premortem server."""
    import uvicorn

    from premortem.config import load_settings
    from premortem.service.app import create_app
    from premortem.service.collector import tune_collector

    base = load_settings()
    settings = base.model_copy(update={k: v for k, v in {"host": host, "port": port}.items() if v})
    settings = _with_syslog(settings, tcp_port=syslog_tcp, udp_port=syslog_udp, host=syslog_host)
    if settings.analysis_process is None:  # one service, two interpreters (docs/scaling.md)
        settings = settings.model_copy(update={"analysis_process": True})
    console = Console(stderr=True)
    _announce(console, settings)
    app = create_app(settings)
    if example:
        _load_example_on_start(app)
    tune_collector(settings.gc_thresholds)
    uvicorn.run(app, host=settings.bind_host, port=settings.port, log_level="warning")


def _with_syslog(settings: Settings, **options: object) -> Settings:
    """The settings with the syslog options given on the command line."""
    from premortem.config import SyslogSettings

    chosen = {name: value for name, value in options.items() if value is not None}
    if not chosen:
        return settings
    # Validated like PREMORTEM_SYSLOG__* from the environment (a bare copy would skip the checks).
    merged = SyslogSettings.model_validate(settings.syslog.model_dump() | chosen)
    return settings.model_copy(update={"syslog": merged})


def _announce(console: Console, settings: Settings) -> None:
    # A wildcard bind is no address to browse to; this machine's own name is one Host it answers.
    shown = "127.0.0.1" if settings.bind_host in ("0.0.0.0", "::", "") else settings.bind_host
    url = f"http://{shown}:{settings.port}"
    console.print(f"premortem serving on [bold]{url}[/] (database {settings.database_url})")
    if shown != settings.bind_host:
        console.print(
            f"listening on every address ({settings.bind_host}); other names and addresses "
            "answer with a token, or once listed in PREMORTEM_ALLOWED_HOSTS / PREMORTEM_PUBLIC_URL"
        )
    if not settings.tokens:
        console.print(
            "no PREMORTEM_TOKENS configured: listening on 127.0.0.1 only, every route is open"
        )
    syslog = settings.syslog
    for transport, port in (("tcp", syslog.tcp_port), ("udp", syslog.udp_port)):
        if port is not None:
            console.print(f"syslog on {syslog.host}:{port}/{transport} (RFC 5424 and 3164)")
    console.print(f"dashboard {url}/  ·  API docs {url}/docs  ·  Ctrl-C stops")


def _load_example_on_start(app: object) -> None:
    """Store the bundled seed example (test run and logs) and learn from it, before serving."""
    from fastapi import FastAPI

    from premortem.examples import load_seed_example, load_seed_logs

    assert isinstance(app, FastAPI)
    runtime = app.state.runtime
    runtime.pipeline.ingest_test_runs(load_seed_example())
    logs = load_seed_logs()
    for start in range(0, len(logs), 1000):
        runtime.pipeline.ingest_logs(logs[start : start + 1000])
    result = runtime.trainer.run()
    Console(stderr=True).print(
        f"seed example loaded: 1 test run, {len(logs)} log lines, "
        f"{result.modes} failure mode(s) learned"
    )


def register(app: typer.Typer) -> None:
    app.command()(serve)
