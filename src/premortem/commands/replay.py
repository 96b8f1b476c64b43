"""`premortem replay …`: send recorded logs to a running server through its API, in time order.

`replay logs FILE… [--metrics FILE…]` reads native log files (JSON lines or a JSON array, as
`POST /api/v1/logs` accepts; gzip too) and metric samples (commands/replay_metrics.py), folds
each file's continuation lines into the record they continue (as the server folds a batch),
merges every file's records in record-time order (stable: equal times keep file, then line
order) and posts them in batches (logs to `/api/v1/logs`, samples to `/v1/metrics`), as fast
as possible or paced by record time (`--speed 1` is real time, `--speed 10` ten times
faster). The server keeps stream time per source, so replaying older logs after newer ones gives
the same windows as live.

`replay openstack-fi EXPERIMENT_DIR` reads one experiment laid out like the OpenStack
fault-injection dataset (`tests/<Subsystem>/Test_<n>/`), sends its service logs in time order as
native log records, then its test runs, exactly as a live system would. Afterwards the server
shows its templates (`/api/v1/templates`), their series and the anomalies the detectors raised.
"""

from __future__ import annotations

import gzip
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console

from premortem.commands.ingest import IngestFailed, post
from premortem.errors import IngestError

if TYPE_CHECKING:
    import httpx

    from premortem.domain import LogRecord
    from premortem.learn.openstack_fi import Experiment

# httpx, rich.progress, the record model and the learning side are imported where they are
# used: `premortem --help` stays fast.

BATCH = 1000
PACED_SPAN_S = 0.25  # when pacing, one batch holds the records due within this many seconds
NO_TIME = -1

replay_app = typer.Typer(help="Replay recorded experiments through a server's API.")


def _experiment(path: Path) -> Experiment:
    from premortem.learn.openstack_fi import discover  # the learning side is heavy: only here

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
    import httpx

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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from premortem.domain import rfc3339_ns

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


# --------------------------------------------------------------------------- replay logs


@dataclass(frozen=True, slots=True)
class TimedDoc:
    """One native log record as read from a file, and its record time (for order and pace);
    or, `kind` "metric", one metric sample (`replay_metrics.Sample`)."""

    time_ns: int
    doc: Any
    kind: str = "log"


@replay_app.command("logs")
def replay_logs_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE",
            help="native log files: JSON lines or array, .gz, or GET /api/v1/logs pages",
        ),
    ],
    speed: Annotated[
        float | None,
        typer.Option(min=0.001, help="pace by record time / X (1 = real time)"),
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(help="send only records stamped at or after this time (RFC 3339)"),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(help="send only records stamped before this time (RFC 3339)"),
    ] = None,
    metrics: Annotated[
        list[Path] | None,
        typer.Option(
            "--metrics",
            metavar="FILE",
            help="metric samples to send with the logs, in one time order (JSON lines of "
            "{metric, labels, timestamp, value}, or GET /api/v1/series items); repeatable",
        ),
    ] = None,
    url: Annotated[str, typer.Option(envvar="PREMORTEM_URL")] = "http://127.0.0.1:8080",
    token: Annotated[str | None, typer.Option(envvar="PREMORTEM_TOKEN")] = None,
) -> None:
    """Send native log files (and metric samples) to a server in record-time order, optionally
    paced; `--since` the time a model was trained `until` sends the held-out part."""
    import httpx

    from premortem.domain import optional_ns

    merged = read_log_files(files) + read_metric_files(metrics or [])
    merged.sort(key=lambda record: record.time_ns)  # stable: at one time, logs first
    records = in_range(merged, optional_ns(since), optional_ns(until))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    console = Console(stderr=True)
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        sent = replay_logs(client, records, speed=speed, console=console)
    samples = sum(r.kind == "metric" for r in records)
    also = f" and {samples} metric sample(s)" if metrics else ""
    typer.echo(
        f"replayed {sent - samples} log record(s){also} from "
        f"{len(files) + len(metrics or [])} file(s) to {url}{_span(records)}"
    )


def read_metric_files(files: Sequence[Path]) -> list[TimedDoc]:
    from premortem.commands.replay_metrics import read_samples

    timed: list[TimedDoc] = []
    for file in files:
        try:
            samples = read_samples(_file_bytes(file), str(file))
        except IngestError as exc:
            raise IngestFailed(exc.message) from exc
        timed += [TimedDoc(sample.time_ns, sample, "metric") for sample in samples]
    return timed


def in_range(records: list[TimedDoc], since_ns: int | None, until_ns: int | None) -> list[TimedDoc]:
    """The records stamped in [since, until) (either bound may be left open)."""
    low = since_ns if since_ns is not None else -1
    high = until_ns if until_ns is not None else 2**63
    return [r for r in records if low <= r.time_ns < high]


def read_log_files(files: Sequence[Path]) -> list[TimedDoc]:
    """Every file's records, merged in record-time order (stable for equal times)."""
    merged: list[TimedDoc] = []
    for file in files:
        merged.extend(read_log_file(file))
    merged.sort(key=lambda record: record.time_ns)  # sort is stable: file, then line order
    return merged


def read_log_file(file: Path) -> list[TimedDoc]:
    """One file's records, each validated as `POST /api/v1/logs` would, in file order.

    A record without a time takes the time of the record before it (the file's first timed
    record for leading ones) and is sent with that timestamp, so it stays where the file put it
    instead of being stamped with the server's clock.
    """
    from premortem.ingest.fields import load_documents
    from premortem.ingest.native import log_record

    raw = _file_bytes(file)
    try:
        items, batch = load_documents(raw)
    except IngestError as exc:
        raise _not_native(file, exc) from exc
    pages = any(_is_page(item) for item in items)
    if pages:
        items, batch = _unpaged(items), True
    timed: list[TimedDoc] = []
    records: list[LogRecord] = []
    for index, item in enumerate(items):
        try:
            record = log_record(item, NO_TIME)
        except IngestError as exc:
            raise _not_native(file, exc.at(f"/{index}") if batch else exc) from exc
        timed.append(TimedDoc(record.time_ns, item))
        records.append(record)
    timed = list(_fill_missing_times(timed))
    # A server's own records were folded when it received them: folded again, a continuation it
    # kept apart (sent in the next batch) would join a record it never joined.
    return timed if pages else _folded(timed, records)


def _is_page(item: object) -> bool:
    """A page of `GET /api/v1/logs` (`{"items": [...], "total": N}`): how logs a server received
    over OTLP, Loki or syslog are read back to be replayed elsewhere."""
    return isinstance(item, dict) and "body" not in item and isinstance(item.get("items"), list)


def _unpaged(items: list[object]) -> list[object]:
    """The records of every page, in file order (a record outside a page stays where it is)."""
    flat: list[object] = []
    for item in items:
        flat.extend(item["items"] if _is_page(item) else [item])  # type: ignore[index]
    return flat


def _folded(timed: list[TimedDoc], records: list[LogRecord]) -> list[TimedDoc]:
    """A file's records with continuation lines folded into the record they continue, as the
    server folds one batch (`premortem.ingest.multiline`), before the merge orders them by
    time. A tailer stamps a traceback's lines with the time it read them (docs/ingest.md), later
    than lines of the same service logged meanwhile: sorted apart from their record, they were
    folded into the wrong one (a trial: three tracebacks in one record of 5,040 characters)."""
    from premortem.ingest.multiline import assemble

    bodies = [record.body for record in records]
    for index, record in enumerate(records):
        record.id = str(index)  # an id the sender gave is kept: it says which record this was
    folded = []
    for record in assemble(records):
        index = int(record.id)
        head = timed[index]
        if record.body != bodies[index]:  # it took continuations
            head = TimedDoc(head.time_ns, {**head.doc, "body": record.body}, head.kind)
        folded.append(head)
    return folded


def _not_native(file: Path, error: IngestError) -> IngestFailed:
    where = f" at {error.pointer}" if error.pointer else ""
    return IngestFailed(f"{file}: not native log records{where}: {error.message}")


def _file_bytes(file: Path) -> bytes:
    if not file.is_file():
        raise IngestFailed(f"{file}: no such file")
    data = file.read_bytes()
    if data[:2] == b"\x1f\x8b":  # gzip, whatever the file is called
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise IngestFailed(f"{file}: not a readable gzip file: {exc}") from exc
    return data


def _fill_missing_times(records: list[TimedDoc]) -> Iterator[TimedDoc]:
    known = [r.time_ns for r in records if r.time_ns != NO_TIME]
    if not known:  # nothing to order by: file order, and the server stamps them
        yield from (TimedDoc(0, r.doc) for r in records)
        return
    previous = known[0]
    for record in records:
        if record.time_ns == NO_TIME:
            doc = {**record.doc, "timestamp": previous}
            yield TimedDoc(previous, doc)
        else:
            previous = record.time_ns
            yield record


def replay_logs(
    client: httpx.Client,
    records: Sequence[TimedDoc],
    *,
    speed: float | None = None,
    console: Console | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> int:
    """Post the records (already in order) in batches; returns how many were sent (log records
    and metric samples).

    With `speed`, a batch is sent when its first record is due: (record time − first record
    time) / speed seconds after the start. `sleep` and `monotonic` are the test seam.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from premortem.commands.replay_metrics import otlp_body

    columns = (TextColumn("replay"), BarColumn(), MofNCompleteColumn(), TextColumn("records"))
    sent = 0
    started = monotonic()
    quiet = console is None or not console.is_terminal
    with Progress(*columns, console=console, transient=True, disable=quiet) as progress:
        task = progress.add_task("replay", total=len(records))
        for due_s, batch in paced_batches(records, speed=speed):
            delay = started + due_s - monotonic()
            if delay > 0:
                sleep(delay)
            try:
                if batch[0].kind == "metric":
                    post(client, "/v1/metrics", otlp_body([r.doc for r in batch]), {})
                else:
                    post(client, "/api/v1/logs", orjson.dumps([r.doc for r in batch]), {})
            except IngestFailed as exc:
                raise IngestFailed(f"{exc} (after {sent} of {len(records)} records)") from exc
            sent += len(batch)
            progress.advance(task, len(batch))
    return sent


def paced_batches(
    records: Sequence[TimedDoc], *, speed: float | None = None, size: int = BATCH
) -> Iterator[tuple[float, Sequence[TimedDoc]]]:
    """(seconds after the start at which to send, batch). Without `speed`, every batch is due
    at once; with it, a batch holds at most the records due within `PACED_SPAN_S`."""
    if not records:
        return
    first = records[0].time_ns
    start = 0
    while start < len(records):
        due = _due_s(records[start].time_ns, first, speed)
        end = start + 1
        while end < len(records) and end - start < size:
            if records[end].kind != records[start].kind:
                break  # logs and metric samples go to their own routes, in turn
            if (
                speed is not None
                and _due_s(records[end].time_ns, first, speed) > due + PACED_SPAN_S
            ):
                break
            end += 1
        yield due, records[start:end]
        start = end


def _due_s(time_ns: int, first_ns: int, speed: float | None) -> float:
    if speed is None:
        return 0.0
    return max(0, time_ns - first_ns) / 1e9 / speed


def _span(records: Sequence[TimedDoc]) -> str:
    from premortem.domain import rfc3339_ns

    times = [r.time_ns for r in records if r.time_ns > 0]
    if not times:
        return ""
    return f" ({rfc3339_ns(times[0])} … {rfc3339_ns(times[-1])})"


def register(app: typer.Typer) -> None:
    app.add_typer(replay_app, name="replay")
