"""`premortem simulate MODEL` and `premortem whatif`: run the built-in models from the shell.

    premortem simulate service -p request_rate=300 -p pool_size=5 --fault connection_leak@60=0.02
    premortem whatif -p pool_size=5 --vary request_rate=50,100,150,200

Parameters are `name=value` (see docs/simulation.md); faults are `TYPE@START[+DURATION][=VALUE]`
in simulated seconds. Any failure prints one line and exits 1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from premortem.errors import ConfigError, PremortemError

if TYPE_CHECKING:
    import httpx

    from premortem.domain import SimulationRun
    from premortem.sim import FaultSpec, WhatIfResult
    from premortem.sim.params import ParamValue

# The built-in models, named here so that `premortem --help` need not import the simulator
# (numpy, simpy); tests/unit/sim keeps this equal to premortem.sim.MODELS.
MODEL_NAMES = ("service", "mmc", "mmck")

_FAULT = re.compile(
    r"^(?P<type>\w+)@(?P<start_s>[\d.]+)(?:\+(?P<duration_s>[\d.]+))?(?:=(?P<value>.+))?$"
)

ParamOption = Annotated[
    list[str] | None, typer.Option("--param", "-p", help="name=value (repeatable)")
]
FaultOption = Annotated[
    list[str] | None,
    typer.Option("--fault", "-f", help="TYPE@START[+DURATION][=VALUE] (repeatable)"),
]


class PostFailed(PremortemError):
    pass


def parse_params(pairs: list[str] | None) -> dict[str, ParamValue]:
    params: dict[str, ParamValue] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"parameter {pair!r} is not name=value")
        params[name.strip()] = value.strip()
    return params


def parse_faults(specs: list[str] | None) -> list[FaultSpec]:
    from premortem.sim import FaultSpec

    faults = []
    for spec in specs or []:
        match = _FAULT.match(spec.strip())
        if match is None:
            raise ConfigError(f"fault {spec!r} is not TYPE@START[+DURATION][=VALUE]")
        fields = {k: v for k, v in match.groupdict().items() if v is not None}
        try:
            faults.append(FaultSpec.model_validate(fields))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ConfigError(f"fault {spec!r}: {where or 'value'}: {first['msg']}") from exc
    return faults


def parse_vary(text: str) -> tuple[str, list[ParamValue]]:
    name, sep, values = text.partition("=")
    grid: list[ParamValue] = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not name.strip() or not grid:
        raise ConfigError(f"--vary {text!r} is not NAME=v1,v2,…")
    return name.strip(), [_number(v) for v in grid]


def _number(text: ParamValue) -> ParamValue:
    try:
        number = float(text)
    except (TypeError, ValueError):
        return text
    return int(number) if number.is_integer() else number


def simulate(
    model: Annotated[str, typer.Argument(help=f"one of: {', '.join(MODEL_NAMES)}")],
    param: ParamOption = None,
    fault: FaultOption = None,
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same run")] = 0,
    duration: Annotated[float, typer.Option(help="simulated seconds")] = 300.0,
    post: Annotated[
        str | None, typer.Option(help="premortem server URL to send the run to")
    ] = None,
    token: Annotated[str | None, typer.Option(envvar="PREMORTEM_TOKEN")] = None,
    output: Annotated[Path | None, typer.Option(help="write the run as JSON to this file")] = None,
) -> None:
    """Run a built-in simulation model and print a summary."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    from premortem.sim import run_model

    params, faults = parse_params(param), parse_faults(fault)
    console = Console()
    columns = (TextColumn(f"simulating {model}"), BarColumn(), TaskProgressColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("run", total=1.0)
        run = run_model(
            model, params, seed=seed, duration_s=duration, faults=faults,
            progress=lambda done: progress.update(task, completed=done),
        )  # fmt: skip
    console.print(summary_table(run))
    if output is not None:
        output.write_bytes(orjson.dumps(run.model_dump(mode="json"), option=orjson.OPT_INDENT_2))
        console.print(f"wrote {output}")
    if post is not None:
        post_run(run, post, token=token)
        console.print(f"posted {run.simulation_id} to {post}")


def summary_table(run: SimulationRun) -> Table:
    import numpy as np

    table = Table(title=f"{run.model} · seed {run.seed} · {run.duration_s:g} s simulated")
    for column in ("series", "mean", "p95", "max"):
        table.add_column(column, justify="left" if column == "series" else "right")
    for series in run.series:
        values = np.array([v for v in series.values if v is not None], dtype=float)
        stats = (values.mean(), np.percentile(values, 95), values.max()) if len(values) else ()
        table.add_row(series.name, *(f"{v:.4g}" for v in stats))
    firsts: dict[str, tuple[float, int]] = {}
    for event in run.events:
        first, count = firsts.get(event.type, (event.time, 0))
        firsts[event.type] = (first, count + 1)
    for kind, (first, count) in firsts.items():
        table.add_row(f"[bold]event[/] {kind}", f"×{count}", f"first at {first:.1f} s", "")
    return table


def post_run(
    run: SimulationRun,
    url: str,
    *,
    token: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> None:
    """POST the run to `{url}/api/v1/simulations`; `transport` is the test seam."""
    import httpx

    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = orjson.dumps(run.model_dump(mode="json"))
    endpoint = f"{url.rstrip('/')}/api/v1/simulations"
    try:
        with httpx.Client(transport=transport, timeout=30) as client:
            response = client.post(endpoint, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise PostFailed(f"cannot reach {url}: {exc}") from exc
    if response.status_code >= 400:
        raise PostFailed(f"{response.status_code} from {endpoint}: {response.text.strip()[:200]}")


def whatif(
    vary: Annotated[str, typer.Option(help="NAME=v1,v2,… the parameter to change and its grid")],
    param: ParamOption = None,
    fault: FaultOption = None,
    model: Annotated[str, typer.Option(help=f"one of: {', '.join(MODEL_NAMES)}")] = "service",
    seed: Annotated[int, typer.Option(help="random seed shared by every grid point")] = 0,
    duration: Annotated[
        float | None, typer.Option(help="simulated seconds per point [default: 60]")
    ] = None,
    threshold: Annotated[float, typer.Option(help="probability at which a mode 'appears'")] = 0.5,
) -> None:
    """Predict failure modes over a grid of one parameter, and where each first appears."""
    from premortem.sim import what_if
    from premortem.sim.whatif import WHATIF_DURATION_S

    change, values = parse_vary(vary)
    answer = what_if(
        parse_params(param), change, values,
        model=model, seed=seed, duration_s=duration or WHATIF_DURATION_S,
        faults=parse_faults(fault),
        threshold=threshold,
    )  # fmt: skip
    console = Console()
    console.print(whatif_table(answer))
    for appearance in answer.appearances:
        where = (
            f"appears at {change}={appearance.first_value}"
            if appearance.first_value is not None
            else f"does not reach {threshold:.0%}"
        )
        line = f"{appearance.name}: {where}; mitigation: {appearance.mitigation}"
        console.print(escape(line), soft_wrap=True)


def whatif_table(answer: WhatIfResult) -> Table:
    modes = [appearance.name for appearance in answer.appearances]
    table = Table(title=f"What-If: {answer.change} on {answer.model} (seed {answer.seed})")
    table.add_column(answer.change, justify="right")
    for name in modes:
        table.add_column(escape(name), justify="right")
    for point in answer.points:
        by_name = {m.name: m.probability for m in point.modes}
        cells = [_probability_cell(by_name.get(name, 0.0), answer.threshold) for name in modes]
        table.add_row(str(point.value), *cells)
    return table


def _probability_cell(probability: float, threshold: float) -> str:
    text = f"{probability:.2f}"
    return f"[bold red]{text}[/]" if probability >= threshold else text


def register(app: typer.Typer) -> None:
    app.command()(simulate)
    app.command()(whatif)
