"""OTLP/HTTP metrics as series (requests built with the opentelemetry-proto classes)."""

from __future__ import annotations

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from premortem.errors import IngestError
from premortem.ingest.otlp_metrics import parse_otlp_metrics

T0 = 1_733_200_000_000_000_000


def _request() -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    resource.resource.attributes.extend(
        [
            KeyValue(key="service.name", value=AnyValue(string_value="orders")),
            KeyValue(key="telemetry.sdk.language", value=AnyValue(string_value="python")),
        ]
    )
    metrics = resource.scope_metrics.add().metrics
    usage = metrics.add(name="db.pool.usage")
    for k, value in enumerate((0.3, 0.8)):
        point = usage.gauge.data_points.add(time_unix_nano=T0 + k * 10**9, as_double=value)
        point.attributes.append(KeyValue(key="pool", value=AnyValue(string_value="primary")))
    requests = metrics.add(name="http.requests")
    requests.sum.data_points.add(time_unix_nano=T0, as_int=42).attributes.append(
        KeyValue(key="ok", value=AnyValue(bool_value=True))
    )
    latency = metrics.add(name="http.latency")
    latency.histogram.data_points.add(time_unix_nano=T0, count=3, sum=0.75)
    return request


def test_gauges_sums_and_histograms_become_series_with_the_service_label() -> None:
    series = parse_otlp_metrics(
        _request().SerializeToString(), content_type="application/x-protobuf"
    )
    by_name = {s.metric: s for s in series}
    assert set(by_name) == {"db.pool.usage", "http.requests", "http.latency_count",
                            "http.latency_sum"}  # fmt: skip
    usage = by_name["db.pool.usage"]
    assert usage.labels == {"service": "orders", "pool": "primary"}  # sdk attributes are not labels
    assert usage.points == [(T0, 0.3), (T0 + 10**9, 0.8)] and usage.service == "orders"
    assert by_name["http.requests"].labels == {"service": "orders", "ok": "true"}
    assert by_name["http.requests"].points == [(T0, 42.0)]
    assert by_name["http.latency_count"].points == [(T0, 3.0)]
    assert by_name["http.latency_sum"].points == [(T0, 0.75)]


def test_json_reads_like_protobuf() -> None:
    body = json_format.MessageToJson(_request()).encode()
    as_json = parse_otlp_metrics(body, content_type="application/json")
    as_protobuf = parse_otlp_metrics(
        _request().SerializeToString(), content_type="application/x-protobuf"
    )
    assert as_json == as_protobuf


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"\xff\xff", "application/x-protobuf", "ExportMetricsServiceRequest"),
        (b"{not json", "application/json", "invalid JSON"),
    ],
)
def test_bad_bodies_are_ingest_errors(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(IngestError, match=message):
        parse_otlp_metrics(body, content_type=content_type)


def test_a_point_without_time_is_refused_with_its_pointer() -> None:
    request = _request()
    request.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[1].time_unix_nano = 0
    with pytest.raises(IngestError) as info:
        parse_otlp_metrics(request.SerializeToString(), content_type="application/x-protobuf")
    assert info.value.pointer == "/resourceMetrics/0/scopeMetrics/0/metrics/0/dataPoints/1"


@pytest.mark.parametrize("body", [b'"AAA"', b"[]", b"42"])
def test_json_must_be_an_object(body: bytes) -> None:
    with pytest.raises(IngestError, match="object"):
        parse_otlp_metrics(body, content_type="application/json")
