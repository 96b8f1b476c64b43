"""Live metrics: Prometheus remote-write in, stored series out.

- `POST /api/v1/write` takes remote-write 1.0 (snappy-compressed `prometheus.WriteRequest`, as
  Prometheus' `remote_write` sends it) and stores every float sample; 204 like Prometheus' own
  receiver, 400 for a body it cannot read (Prometheus does not retry 4xx).
- `POST /v1/metrics` takes OTLP/HTTP metrics (protobuf or JSON) into the same series
  (`premortem.ingest.otlp_metrics`).
- `GET /api/v1/series?metric=NAME[&since&until&limit&offset]` lists that metric's series
  (one per label set) with their points `[t_ns, value]` in the range, oldest first.
- `GET /api/v1/series/names[?limit&offset]` lists the stored metrics and how many series each
  has: to read a server's samples back without knowing every name.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from premortem.domain import MetricSeries, optional_ns
from premortem.ingest.otlp_metrics import parse_otlp_metrics
from premortem.ingest.remote_write import parse_write_request
from premortem.ports import SeriesQuery, SeriesStore
from premortem.service import openapi
from premortem.service.deps import Body, CanIngest, CanRead
from premortem.service.params import Limit, Offset, Since, Until
from premortem.store.tables_series import SqlSeriesStore

router = APIRouter(tags=["ingest"])

REMOTE_WRITE = openapi.ingest_body(
    {
        "application/x-protobuf": {"type": "string", "format": "binary"},
        # The body is read whatever its content type says (Prometheus sends the one above).
        "application/octet-stream": {"type": "string", "format": "binary"},
    },
    description="Prometheus remote-write 1.0: a snappy-compressed prometheus.WriteRequest",
)
OTLP_METRICS = openapi.ingest_body(
    {
        "application/json": {"type": "object"},
        "application/x-protobuf": {"type": "string", "format": "binary"},
    },
    description="OTLP ExportMetricsServiceRequest, JSON or protobuf (optionally gzip)",
)


def series_store(request: Request) -> SeriesStore:
    """The app's series store, made at first use (an app may set `app.state.series_store`)."""
    store: SeriesStore | None = getattr(request.app.state, "series_store", None)
    if store is None:
        store = request.app.state.series_store = SqlSeriesStore(request.app.state.runtime.engine)
    return store


@router.post("/api/v1/write", status_code=204, dependencies=[CanIngest], openapi_extra=REMOTE_WRITE)
def remote_write(request: Request, body: Body) -> Response:
    """Store the samples of a Prometheus remote-write request."""
    limit: int = request.app.state.settings.max_body_bytes
    _store(request, parse_write_request(body, limit=limit))
    return Response(status_code=204)


@router.post(
    "/v1/metrics", dependencies=[CanIngest], openapi_extra=OTLP_METRICS, tags=["compatible"]
)
def otlp_metrics(request: Request, body: Body) -> Response:
    """OTLP/HTTP metrics, protobuf or JSON (optionally gzip): stored as series."""
    content_type = request.headers.get("content-type")
    _store(request, parse_otlp_metrics(body, content_type=content_type))
    if (content_type or "").split(";")[0].strip().lower() == "application/x-protobuf":
        # An empty ExportMetricsServiceResponse (full success) encodes to zero bytes.
        return Response(b"", media_type="application/x-protobuf")
    return Response(b"{}", media_type="application/json")


def _store(request: Request, series: list[MetricSeries]) -> None:
    request.app.state.pipeline.admit(len(series))  # 429 before storing, when analysis is behind
    stored = series_store(request).add_series(series)
    request.app.state.metrics.ingested.labels("metric_sample").inc(stored)
    # Stored first; then a live metric precursor may raise a prediction (learn/metric_signals).
    request.app.state.pipeline.analyse_series(series)


@router.get("/api/v1/series", dependencies=[CanRead], tags=["learning"])
def list_series(
    request: Request,
    metric: Annotated[str, Query(min_length=1, max_length=256)],
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """One metric's stored series, each with its label set and points in the range."""
    page = series_store(request).list_series(
        SeriesQuery(metric, optional_ns(since), optional_ns(until), limit, offset)
    )
    return {
        "items": [
            {"metric": s.metric, "labels": s.labels, "points": [[t, v] for t, v in s.points]}
            for s in page.items
        ],
        "total": page.total,
    }


@router.get("/api/v1/series/names", dependencies=[CanRead], tags=["learning"])
def list_metric_names(request: Request, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """The stored metrics by name, with how many series (label sets) each has."""
    page = series_store(request).metric_names(limit=limit, offset=offset)
    return {
        "items": [{"metric": name, "series": n} for name, n in page.items],
        "total": page.total,
    }
