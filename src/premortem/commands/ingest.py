"""`premortem ingest FILE --kind …`: send a file to a premortem server through its API.

Logs in JSON lines are sent in batches (with a progress bar for large files); other kinds are
sent whole. Any failure prints one line and exits 1.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from premortem.errors import PremortemError

if TYPE_CHECKING:
    import httpx

# httpx and rich.progress are imported where they are used: `premortem --help` stays fast.

BATCH_LINES = 1000
MAX_LISTED_RUNS = 20  # more runs than this: their verdicts are counted, not listed
BIG_FILE_BYTES = 1 << 20


class Kind(StrEnum):
    test_run = "test-run"
    simulation = "simulation"
    logs = "logs"
    events = "events"


ENDPOINTS = {
    Kind.test_run: "/api/v1/test-runs",
    Kind.simulation: "/api/v1/simulations",
    Kind.logs: "/api/v1/logs",
    Kind.events: "/api/v1/events",
}


class IngestFailed(PremortemError):
    pass


def ingest(
    file: Annotated[Path, typer.Argument(help="File to send; - for standard input")],
    kind: Annotated[Kind, typer.Option(help="What the file holds")],
    format: Annotated[
        str,
        typer.Option(help="Test-run format: native, chaostoolkit, litmus, chaosmesh, k6, locust"),
    ] = "native",
    url: Annotated[str, typer.Option(envvar="PREMORTEM_URL")] = "http://127.0.0.1:8080",
    token: Annotated[str | None, typer.Option(envvar="PREMORTEM_TOKEN")] = None,
) -> None:
    """Send test runs, simulations, logs or events to a premortem server."""
    if str(file) != "-" and not file.is_file():
        raise IngestFailed(f"{file}: no such file")
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    params = {"format": format} if kind is Kind.test_run else {}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        if kind is Kind.logs and _is_json_lines(file):
            sent = _send_log_lines(client, file)
        else:
            data = _read(file)
            answer = post(client, ENDPOINTS[kind], data, params)
            sent = 1
    typer.echo(f"sent {sent} batch(es) of {kind.value} to {url}")
    if kind is Kind.test_run:
        typer.echo(_outcomes_read(answer))


def _outcomes_read(answer: httpx.Response) -> str:
    """How the server read the runs' outcomes (its answer's `outcomes`): the verdict a user
    must check before training (a run taken as passed teaches nothing about its failure)."""
    try:
        outcomes = orjson.loads(answer.content).get("outcomes") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return "the server did not say how it read the runs"
    counts = Counter(str(verdict) for verdict in outcomes.values())
    summary = ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items()))
    lines = [f"read as: {summary or 'no runs'}"]
    if len(outcomes) <= MAX_LISTED_RUNS:
        lines += [f"  {test_id}: {verdict}" for test_id, verdict in outcomes.items()]
    return "\n".join(lines)


def _read(file: Path) -> bytes:
    return typer.get_binary_stream("stdin").read() if str(file) == "-" else file.read_bytes()


def _is_json_lines(file: Path) -> bool:
    if str(file) == "-":
        return False
    with file.open("rb") as handle:
        head = handle.read(1).lstrip()
    return head == b"{"


def _batches(file: Path) -> Iterator[tuple[bytes, int]]:
    lines: list[bytes] = []
    size = 0
    with file.open("rb") as handle:
        for line in handle:
            size += len(line)
            if line.strip():
                lines.append(line)
            if len(lines) >= BATCH_LINES:
                yield b"".join(lines), size
                lines, size = [], 0
    if lines:
        yield b"".join(lines), size


def _send_log_lines(client: httpx.Client, file: Path) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TransferSpeedColumn

    total = os.path.getsize(file)
    columns = (TextColumn("logs"), BarColumn(), TransferSpeedColumn())
    sent = 0
    with Progress(*columns, disable=total < BIG_FILE_BYTES, transient=True) as progress:
        task = progress.add_task("send", total=total)
        for body, size in _batches(file):
            post(client, ENDPOINTS[Kind.logs], body, {}, content_type="application/x-ndjson")
            progress.advance(task, size)
            sent += 1
    return sent


def post(
    client: httpx.Client,
    path: str,
    body: bytes,
    params: dict[str, str],
    *,
    content_type: str = "application/json",
) -> httpx.Response:
    import httpx

    try:
        response = client.post(
            path, content=body, params=params, headers={"Content-Type": content_type}
        )
    except httpx.HTTPError as exc:
        raise IngestFailed(f"cannot reach {client.base_url}: {exc}") from exc
    if response.status_code >= 400:
        raise IngestFailed(f"{response.status_code} from {path}: {_problem_detail(response)}")
    return response


def _problem_detail(response: httpx.Response) -> str:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text.strip().splitlines()[0] if response.text.strip() else "no detail"
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)
    return str(body)


def register(app: typer.Typer) -> None:
    app.command()(ingest)
