"""Endpoints that speak other tools' protocols: OTLP/HTTP logs and the Loki push API.

Errors are problem+json like everywhere else; on /v1/logs the body also carries the
`google.rpc.Status` members `code` and `message`, so OTLP exporters can read it too. A batch with
a bad record is rejected whole, and nothing of it is stored.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from premortem.errors import IngestError
from premortem.ingest import loki, otlp
from premortem.service import openapi
from premortem.service.deps import Body, CanIngest, MetricsDep, PipelineDep
from premortem.service.problems import PROBLEM
from premortem.service.routes_inputs import store_logs

router = APIRouter(tags=["compatible"])

PROTOBUF = "application/x-protobuf"


@router.post("/v1/logs", dependencies=[CanIngest], openapi_extra=openapi.OTLP_LOGS)
async def otlp_logs(
    request: Request, body: Body, pipeline: PipelineDep, metrics: MetricsDep
) -> Response:
    """OTLP/HTTP logs, JSON or protobuf, optionally gzip-compressed."""
    content_type = request.headers.get("content-type") or "application/json"
    is_protobuf = content_type.split(";")[0].strip().lower() == PROTOBUF
    try:
        result = otlp.parse_otlp(body, content_type=content_type, now_ns=pipeline.clock.now_ns())
        if result.errors:
            # A batch is stored whole or not at all, so one bad record rejects the request;
            # the answer names every bad record (up to a bound) and all that is wrong in each.
            raise IngestError.combine(result.errors)
        records = result.records
    except IngestError as exc:
        metrics.rejected.labels("otlp").inc()
        return JSONResponse(
            {
                "type": "https://premortem.dev/problems/invalid-otlp",
                "title": "Invalid OTLP payload",
                "status": 400,
                "detail": str(exc),
                "instance": request.url.path,
                "errors": [{"pointer": e.pointer, "detail": e.message} for e in exc.errors],
                "code": 3,  # google.rpc.Code INVALID_ARGUMENT
                "message": str(exc),
            },
            status_code=400,
            media_type=PROBLEM,
        )
    if records:
        await store_logs(records, pipeline, metrics, "otlp")
    if is_protobuf:
        # An empty ExportLogsServiceResponse (full success) encodes to zero bytes.
        return Response(b"", media_type=PROTOBUF)
    return JSONResponse({})


@router.post(
    "/loki/api/v1/push",
    status_code=204,
    dependencies=[CanIngest],
    openapi_extra=openapi.LOKI_PUSH,
)
async def loki_push(
    request: Request, body: Body, pipeline: PipelineDep, metrics: MetricsDep
) -> Response:
    """Loki's push format, JSON or snappy-compressed protobuf (any other content type, as Loki
    reads it); answers 204 like Loki."""
    try:
        if loki.is_protobuf(request.headers.get("content-type")):
            limit = request.app.state.settings.max_body_bytes
            records = loki.parse_push_protobuf(body, limit=limit)
        else:
            records = loki.parse_push(body, now_ns=pipeline.clock.now_ns())
    except IngestError:
        metrics.rejected.labels("loki").inc()
        raise
    if records:
        await store_logs(records, pipeline, metrics, "loki")
    return Response(status_code=204)
