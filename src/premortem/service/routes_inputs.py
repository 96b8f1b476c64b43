"""Ingestion and read-back of the inputs: test runs, simulations, logs and events.

Each POST reads the body (size-limited, decompressed), parses it whole with the format's parser
(a bad record rejects the batch, naming the field), then hands the records to the pipeline, which
stores them in one transaction.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from premortem.domain import Event, LogRecord, optional_ns
from premortem.errors import ConfigError, IngestError
from premortem.ingest import TEST_RUN_FORMATS, cloudevents, events, native, simulation
from premortem.ingest.severity import severity_number
from premortem.ports import EventQuery, LogQuery, SimulationQuery, TestRunQuery
from premortem.service import openapi
from premortem.service.deps import Body, CanAdmin, CanIngest, CanRead, MetricsDep, PipelineDep
from premortem.service.params import Limit, Offset, Since, TemplateId, Until

router = APIRouter(prefix="/api/v1", tags=["inputs"])


def count_rejected(metrics: Any, kind: str, exc: IngestError) -> None:
    metrics.rejected.labels(kind).inc()
    raise exc


# ---------------------------------------------------------------------------- test runs


@router.post(
    "/test-runs", status_code=201, dependencies=[CanIngest], openapi_extra=openapi.TEST_RUNS
)
async def post_test_runs(
    body: Body,
    pipeline: PipelineDep,
    metrics: MetricsDep,
    format: Annotated[str, Query(description="native|" + "|".join(TEST_RUN_FORMATS))] = "native",
) -> dict[str, Any]:
    """One test run or a list, in the native (seed) format or a tool's own format."""
    parser = TEST_RUN_FORMATS.get(format)
    if parser is None:
        raise IngestError(
            f"unknown format {format!r}; use one of {', '.join(TEST_RUN_FORMATS)}",
            pointer="?format",
        )
    try:
        runs = parser(body, now_ns=pipeline.clock.now_ns())
    except IngestError as exc:
        count_rejected(metrics, "test_run", exc)
    stored = await run_in_threadpool(pipeline.ingest_test_runs, runs)
    metrics.ingested.labels("test_run").inc(stored)
    # How each run was read (docs/ingest.md, "When a run failed"): a passing run whose outcome
    # texts differ must not silently become a failure.
    outcomes = {r.run.test_id: r.run.outcome for r in runs}
    return {"stored": stored, "ids": [r.run.test_id for r in runs], "outcomes": outcomes}


@router.get("/test-runs", dependencies=[CanRead])
def list_test_runs(
    pipeline: PipelineDep,
    fault_type: str | None = None,
    outcome: Annotated[str | None, Query(pattern="^(pass|fail)$")] = None,
    service: str | None = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    query = TestRunQuery(
        fault_type, outcome, service, optional_ns(since), optional_ns(until), limit, offset
    )
    page = pipeline.store.list_test_runs(query)
    return {"items": [s.doc for s in page.items], "total": page.total}


@router.get("/test-runs/{test_id:path}", dependencies=[CanRead])
def get_test_run(test_id: str, pipeline: PipelineDep) -> dict[str, Any]:
    """The test run exactly as it was sent. Its id may hold `/` (`Nova/Test_1/round_1`, as
    `premortem replay` names OpenStack runs), written plain or as `%2F`."""
    return pipeline.store.get_test_run(test_id).doc


@router.delete(
    "/test-runs/{test_id:path}",
    status_code=204,
    dependencies=[CanAdmin],
    responses=openapi.problem_responses(404),
)
def delete_test_run(test_id: str, pipeline: PipelineDep) -> Response:
    """Forget a test run sent by mistake: the next training no longer learns from it (its logs
    stay, as do modes already learned from it until the next training)."""
    pipeline.store.delete_test_run(test_id)
    return Response(status_code=204)


# ---------------------------------------------------------------------------- simulations


@router.post(
    "/simulations", status_code=201, dependencies=[CanIngest], openapi_extra=openapi.SIMULATIONS
)
async def post_simulations(
    body: Body, pipeline: PipelineDep, metrics: MetricsDep
) -> dict[str, Any]:
    try:
        runs = simulation.parse(body, now_ns=pipeline.clock.now_ns())
    except IngestError as exc:
        count_rejected(metrics, "simulation", exc)
    stored = await run_in_threadpool(pipeline.ingest_simulations, runs)
    metrics.ingested.labels("simulation").inc(stored)
    return {"stored": stored, "ids": [r.simulation_id for r in runs]}


@router.get("/simulations", dependencies=[CanRead])
def list_simulations(
    pipeline: PipelineDep,
    service: str | None = None,
    model: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    page = pipeline.store.list_simulations(SimulationQuery(service, model, limit, offset))
    items = [run.model_dump(mode="json", exclude={"series", "events"}) for run in page.items]
    for item, run in zip(items, page.items, strict=True):
        item["series_names"] = [s.name for s in run.series]
        item["event_count"] = len(run.events)
    return {"items": items, "total": page.total}


@router.get("/simulations/{simulation_id:path}", dependencies=[CanRead])
def get_simulation(simulation_id: str, pipeline: PipelineDep) -> dict[str, Any]:
    """The simulation run with its events and series."""
    return pipeline.store.get_simulation(simulation_id).model_dump(mode="json")


# ---------------------------------------------------------------------------- logs


async def store_logs(
    records: list[LogRecord], pipeline: PipelineDep, metrics: MetricsDep, kind: str
) -> int:
    stored = await run_in_threadpool(pipeline.ingest_logs, records)
    metrics.ingested.labels(kind).inc(stored)
    return stored


@router.post("/logs", dependencies=[CanIngest], openapi_extra=openapi.LOGS)
async def post_logs(
    request: Request, body: Body, pipeline: PipelineDep, metrics: MetricsDep
) -> dict[str, Any]:
    """A JSON array, a single object, or JSON lines of native log records."""
    now_ns = pipeline.clock.now_ns()
    try:
        records = native.parse_logs(body, now_ns=now_ns)
    except IngestError as exc:
        count_rejected(metrics, "log", exc)
    stored = await store_logs(records, pipeline, metrics, "log")
    answer: dict[str, Any] = {"accepted": len(records), "stored": stored}
    untimed = sum(1 for r in records if r.time_ns == now_ns)
    if untimed:
        # Said, not silent: a recorded line stamped "now" is misplaced in its run's window.
        answer["untimed"] = untimed
        answer["note"] = (
            f"{untimed} record(s) had no time field ({', '.join(native.TIME_FIELDS)}): "
            "stamped with the time they arrived"
        )
    return answer


def _severity_floor(text: str | None) -> int | None:
    """`min_severity` as a number: given as one, or a level name's (an unknown name is a 400)."""
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    number = severity_number(text)
    if number == 0:
        raise ConfigError(f"min_severity: unknown level name {text!r} (WARN, ERROR, …, or 0–24)")
    return number


@router.get("/logs", dependencies=[CanRead], responses=openapi.problem_responses(400))
def list_logs(
    pipeline: PipelineDep,
    service: str | None = None,
    since: Since = None,
    until: Until = None,
    q: Annotated[str | None, Query(description="text the body contains")] = None,
    template_id: TemplateId = None,
    min_severity: Annotated[
        str | None,
        Query(
            description="a severity number (0–24) or a level name (WARN, error, …)",
            pattern=r"^(?:[0-9]|1[0-9]|2[0-4]|[A-Za-z]+)$",
        ),
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    query = LogQuery(
        service,
        optional_ns(since),
        optional_ns(until),
        q or None,
        template_id,
        _severity_floor(min_severity),
        limit,
        offset,
    )
    page = pipeline.store.list_logs(query)
    return {"items": [r.to_json() for r in page.items], "total": page.total}


# ---------------------------------------------------------------------------- events


@router.post("/events", dependencies=[CanIngest], openapi_extra=openapi.EVENTS)
async def post_events(
    request: Request, body: Body, pipeline: PipelineDep, metrics: MetricsDep
) -> dict[str, Any]:
    """CloudEvents 1.0 (structured, batch or binary mode) or Kubernetes Event objects."""
    events = _parse_events(request, body, pipeline.clock.now_ns())
    stored = await run_in_threadpool(pipeline.ingest_events, events)
    metrics.ingested.labels("event").inc(stored)
    return {"accepted": len(events), "stored": stored}


_CLOUDEVENTS_MODES = {
    "application/cloudevents+json": False,
    "application/cloudevents-batch+json": True,
}


def _parse_events(request: Request, body: bytes, now_ns: int) -> list[Event]:
    metrics = request.app.state.metrics
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        if "ce-specversion" in headers:
            return [cloudevents.parse_binary(headers, body, now_ns=now_ns)]
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media in _CLOUDEVENTS_MODES:  # structured mode: CloudEvents only, never guessed
            batch = _CLOUDEVENTS_MODES[media]
            return cloudevents.parse_structured(body, now_ns=now_ns, batch_mode=batch)
        return events.parse_events(body, now_ns=now_ns)
    except IngestError as exc:
        metrics.rejected.labels("event").inc()
        raise exc


@router.get("/events", dependencies=[CanRead])
def list_events(
    pipeline: PipelineDep,
    service: str | None = None,
    type: str | None = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    offset: Offset = 0,
    source: Annotated[str | None, Query(description="the producer's source")] = None,
    external_id: Annotated[
        str | None, Query(description="the producer's own id (CloudEvents `id`)")
    ] = None,
) -> dict[str, Any]:
    """Events, newest first; a CloudEvent is found again by `source` and `external_id`."""
    query = EventQuery(
        service,
        type,
        optional_ns(since),
        optional_ns(until),
        limit,
        offset,
        source=source,
        external_id=external_id,
    )
    page = pipeline.store.list_events(query)
    return {"items": [e.to_json() for e in page.items], "total": page.total}
