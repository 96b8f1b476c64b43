"""`premortem replay openstack-fi EXPERIMENT_DIR`: replay a recorded experiment through the API.

Reads one experiment laid out like the OpenStack fault-injection dataset
(`tests/<Subsystem>/Test_<n>/`), sends its service logs to a running server in time order as
native log records, then its test runs, exactly as a live system would. Afterwards the server
shows its templates (`/api/v1/templates`), their series and the anomalies the detectors raised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from premortem.commands.ingest import IngestFailed, post
from premortem.domain import LogRecord, rfc3339_ns
from premortem.learn.openstack_fi import Experiment, discover

BATCH = 1000

replay_app = typer.Typer(help="Replay recorded experiments through a server's API.")


def _experiment(path: Path) -> Experiment:
    path = path.resolve()
    if not (path / "logs").is_dir():
        raise IngestFailed(f"{path}: not an experiment directory (no logs/)")
    root = path.parent.parent.parent  # <root>/tests/<Subsystem>/Test_<n>
    for experiment in discover(root):
        if experiment.path.resolve() == path:
            return experiment
    raise IngestFailed(f"{path}: not found under {root}/tests")


def _native(record: LogRecord) -> dict[str, object]:
    return {
        "timestamp": record.time_ns,
        "service": record.service,
        "severity_number": record.severity_number,
        "severity_text": record.severity_text,
        "body": record.body,
        "attributes": record.attributes,
    }


@replay_app.command("openstack-fi")
def replay_openstack_fi(
    experiment_dir: Annotated[Path, typer.Argument(help="tests/<Subsystem>/Test_<n> directory")],
    round_no: Annotated[int, typer.Option("--round", help="1 = faulty run, 2 = fault-free")] = 1,
    with_test_runs: Annotated[
        bool, typer.Option(help="also send the experiment's test runs (outcome, failure)")
    ] = True,
    url: Annotated[str, typer.Option(envvar="PREMORTEM_URL")] = "http://127.0.0.1:8080",
    token: Annotated[str | None, typer.Option(envvar="PREMORTEM_TOKEN")] = None,
) -> None:
    """Send one OpenStack fault-injection experiment's logs (and test runs) to a server."""
    experiment = _experiment(experiment_dir)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    console = Console(stderr=True)
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        summary = replay_experiment(
            client, experiment, round_no=round_no, with_test_runs=with_test_runs, console=console
        )
    console.print(summary)


def replay_experiment(
    client: httpx.Client,
    experiment: Experiment,
    *,
    round_no: int = 1,
    with_test_runs: bool = True,
    console: Console | None = None,
) -> str:
    """Post one round's logs in time order (then the test runs); returns a one-line summary."""
    runs = [r for r in experiment.runs if r.parameters.get("round_dir") == f"round_{round_no}"]
    if not runs:
        raise IngestFailed(f"{experiment.key}: no round_{round_no}")
    run = runs[0]
    records = experiment.logs(run)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True, disable=console is None) as progress:
        task = progress.add_task(f"{experiment.key} round {round_no}", total=len(records))
        for start in range(0, len(records), BATCH):
            batch = records[start : start + BATCH]
            post(client, "/api/v1/logs", orjson.dumps([_native(r) for r in batch]), {})
            progress.advance(task, len(batch))
    if with_test_runs:
        docs = [r.model_dump(mode="json", exclude_none=True) for r in experiment.runs]
        post(client, "/api/v1/test-runs", orjson.dumps(docs), {})
    starts = [f.start for f in run.injected_faults if f.start is not None]
    activation = f", fault activated at {starts[0]}" if starts else ""
    span = (
        f"{rfc3339_ns(records[0].time_ns)} … {rfc3339_ns(records[-1].time_ns)}" if records else ""
    )
    what = f"{len(records)} log lines of {experiment.key} round {round_no}"
    return f"replayed {what} ({span}){activation}"


def register(app: typer.Typer) -> None:
    app.add_typer(replay_app, name="replay")
