"""The real OpenTelemetry Python SDK sends metrics: a `MeterProvider` whose periodic reader
exports with the SDK's own `OTLPMetricExporter` (protobuf over HTTP) to `premortem serve`'s
`/v1/metrics`; the gauge and the counter come back through `GET /api/v1/series` with the
resource's service and the points' attributes as labels."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from premortem_serving import PremortemProcess
from prometheus_server import wait_for

pytestmark = pytest.mark.integration


def test_sdk_metrics_are_stored_as_series(
    premortem_process: Callable[..., PremortemProcess], tmp_path: Path
) -> None:
    server = premortem_process(f"sqlite:///{tmp_path / 'premortem.db'}")
    server.start()
    usage = iter([0.35, 0.5, 0.75, 0.9] + [0.95] * 100)

    def observe(_: CallbackOptions) -> Iterable[Observation]:
        yield Observation(next(usage), {"pool": "primary"})

    exporter = OTLPMetricExporter(endpoint=f"{server.url}/v1/metrics")
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=200)
    provider = MeterProvider(
        resource=Resource.create({"service.name": "orders", "service.instance.id": "orders-1"}),
        metric_readers=[reader],
    )
    meter = provider.get_meter("orders.pool")
    meter.create_observable_gauge("db.pool.usage", callbacks=[observe], unit="1")
    requests = meter.create_counter("http.requests")
    requests.add(3, {"route": "/orders"})
    try:

        def series(metric: str) -> list[dict[str, object]]:
            listed = httpx.get(f"{server.url}/api/v1/series", params={"metric": metric}).json()
            items: list[dict[str, object]] = listed["items"]
            return items if items and len(items[0]["points"]) >= 3 else []  # type: ignore[arg-type]

        (gauge,) = wait_for(lambda: series("db.pool.usage"), timeout_s=30, what="the SDK's gauge")
        (counter,) = wait_for(lambda: series("http.requests"), timeout_s=30, what="the counter")
    finally:
        provider.shutdown()
    assert gauge["labels"] == {"service": "orders", "instance": "orders-1", "pool": "primary"}
    values = [value for _, value in gauge["points"]]  # type: ignore[attr-defined]
    assert values[:3] == [0.35, 0.5, 0.75]
    assert counter["labels"] == {"service": "orders", "instance": "orders-1", "route": "/orders"}
    assert {value for _, value in counter["points"]} == {3.0}  # type: ignore[attr-defined]
