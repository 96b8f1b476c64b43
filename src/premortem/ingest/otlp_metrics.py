"""OTLP/HTTP metrics (`POST /v1/metrics`): `ExportMetricsServiceRequest`, protobuf or JSON.

Every data point becomes a sample of a `MetricSeries`, as Prometheus remote-write does:

- gauges and sums: one series per metric name and point attributes, value `asDouble`/`asInt`;
- histograms, exponential histograms and summaries: `<name>_count` and `<name>_sum` (the
  buckets are not kept);
- labels: the point's attributes (values as text), plus the resource's `service.name` as
  `service`, `service.namespace` as `namespace` and `service.instance.id` as `instance` (other
  resource attributes are not labels, as in Prometheus' own OTLP translation);
- time: `timeUnixNano`; a point without one is refused. The metric name is kept as sent
  (`db.pool.usage` stays dotted: map it by that name in Playback).

JSON is read with protobuf's own JSON mapping, so both encodings give the same series.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from premortem.domain import MAX_NS, MetricSeries
from premortem.errors import IngestError
from premortem.ingest.fields import expect_object, load_json
from premortem.ingest.remote_write import MAX_LABEL_VALUE, MAX_LABELS, MAX_NAME

RESOURCE_LABELS = {
    "service.name": "service",
    "service.namespace": "namespace",
    "service.instance.id": "instance",
}


def parse_otlp_metrics(body: bytes, *, content_type: str | None) -> list[MetricSeries]:
    """Every data point of the request as series samples; raises on the first bad one."""
    request = ExportMetricsServiceRequest()
    media = (content_type or "application/json").split(";")[0].strip().lower()
    try:
        if media == "application/x-protobuf":
            request.ParseFromString(body)
        else:
            document = expect_object(load_json(body), "")
            json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (DecodeError, json_format.ParseError, RecursionError) as exc:
        raise IngestError(f"not an OTLP ExportMetricsServiceRequest: {exc}"[:300]) from exc
    series: dict[str, MetricSeries] = {}
    for r, resource_metrics in enumerate(request.resource_metrics):
        resource = {
            label: _text(a.value)
            for a in resource_metrics.resource.attributes
            if (label := RESOURCE_LABELS.get(a.key))
        }
        for s, scope in enumerate(resource_metrics.scope_metrics):
            for m, metric in enumerate(scope.metrics):
                at = f"/resourceMetrics/{r}/scopeMetrics/{s}/metrics/{m}"
                for name, points in _points(metric, at):
                    for p, (attributes, time_ns, value) in enumerate(points):
                        labels = {**resource, **attributes}
                        _check(name, labels, time_ns, f"{at}/dataPoints/{p}")
                        found = MetricSeries(name, labels)
                        series.setdefault(found.id, found).points.append((time_ns, value))
    return list(series.values())


def _points(metric: Any, at: str) -> list[tuple[str, list[tuple[dict[str, str], int, float]]]]:
    kind = metric.WhichOneof("data")
    if kind in ("gauge", "sum"):
        points = getattr(metric, kind).data_points
        return [
            (
                metric.name,
                [(_attributes(p), p.time_unix_nano, _number(p)) for p in points],
            )
        ]
    if kind in ("histogram", "exponential_histogram", "summary"):
        points = getattr(metric, kind).data_points
        return [
            (
                f"{metric.name}_count",
                [(_attributes(p), p.time_unix_nano, float(p.count)) for p in points],
            ),
            (
                f"{metric.name}_sum",
                [(_attributes(p), p.time_unix_nano, float(p.sum)) for p in points],
            ),
        ]
    return []  # no data: nothing to keep


def _number(point: Any) -> float:
    return float(point.as_int) if point.WhichOneof("value") == "as_int" else point.as_double


def _attributes(point: Any) -> dict[str, str]:
    return {a.key: _text(a.value) for a in point.attributes}


def _text(value: Any) -> str:
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    plain = getattr(value, kind)
    if kind == "bool_value":
        return "true" if plain else "false"
    if kind in ("array_value", "kvlist_value"):
        return str(json_format.MessageToJson(plain, indent=None))
    if kind == "bytes_value":
        return bytes(plain).hex()
    return str(plain)


def _check(name: str, labels: dict[str, str], time_ns: int, at: str) -> None:
    if not name:
        raise IngestError("a metric needs a name", pointer=at)
    if not 0 < time_ns <= MAX_NS:
        raise IngestError("timeUnixNano is required (Unix nanoseconds)", pointer=at)
    if len(name) > MAX_NAME or len(labels) > MAX_LABELS:
        raise IngestError(
            f"at most {MAX_LABELS} labels and a name of {MAX_NAME} characters", pointer=at
        )
    for key, value in labels.items():
        if len(key) > MAX_NAME or len(value) > MAX_LABEL_VALUE:
            raise IngestError(f"attribute {key[:64]!r} is too long", pointer=at)
