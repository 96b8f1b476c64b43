"""Dependencies as `Annotated` aliases, so route handlers read like prose."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from premortem.config import Settings
from premortem.errors import IngestError, PayloadTooLarge
from premortem.runtime.pipeline import Pipeline
from premortem.service.auth import require
from premortem.service.metrics import ServiceMetrics

# The accessors are `async` on purpose: FastAPI runs a plain `def` dependency in its thread pool,
# and on a busy server each hop to a worker thread and back waits for the GIL (tens to hundreds
# of milliseconds under load, bench/cardinality.py) for what is an attribute lookup.


async def _pipeline(request: Request) -> Pipeline:
    pipeline: Pipeline = request.app.state.pipeline
    return pipeline


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _metrics(request: Request) -> ServiceMetrics:
    metrics: ServiceMetrics = request.app.state.metrics
    return metrics


PipelineDep = Annotated[Pipeline, Depends(_pipeline)]
SettingsDep = Annotated[Settings, Depends(_settings)]
MetricsDep = Annotated[ServiceMetrics, Depends(_metrics)]

CanIngest = Depends(require("ingest"))
CanRead = Depends(require("read"))
CanAdmin = Depends(require("admin"))


async def read_body(request: Request) -> bytes:
    """The request body, decompressed, refusing anything over the configured limit (413)."""
    from premortem.ingest import decompress

    limit: int = request.app.state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise IngestError("Content-Length must be a number", pointer="")
        if int(declared) > limit:
            raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return decompress(b"".join(chunks), request.headers.get("content-encoding"), limit=limit)


Body = Annotated[bytes, Depends(read_body)]
