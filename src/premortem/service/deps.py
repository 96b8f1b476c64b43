"""Dependencies as `Annotated` aliases, so route handlers read like prose."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from premortem.config import Settings
from premortem.errors import IngestError, PayloadTooLarge
from premortem.pipeline import Pipeline
from premortem.service.auth import require
from premortem.service.metrics import ServiceMetrics


def _pipeline(request: Request) -> Pipeline:
    pipeline: Pipeline = request.app.state.pipeline
    return pipeline


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _metrics(request: Request) -> ServiceMetrics:
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
