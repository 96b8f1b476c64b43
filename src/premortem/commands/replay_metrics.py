"""Metric samples for `premortem replay logs --metrics FILE`: read, and sent as OTLP/HTTP JSON.

A held-out replay that sends only the logs misses what a model learned from metrics (a queue
depth rising before the failure): the samples go with the logs, in one time order. A file holds
JSON lines (or a JSON array, gzip too) of either shape:

    {"metric": "queue_depth", "labels": {"service": "publisher", "queue": "mail"},
     "timestamp": "2026-12-07T03:40:21.5Z", "value": 12}
    {"metric": "queue_depth", "labels": {...}, "points": [[1796701221500000000, 12], ...]}

the second being an item of `GET /api/v1/series` (a server's stored series, exported). Times are
RFC 3339 or epoch numbers in seconds, ms, µs or ns (told apart by size), as in log records. They
are posted to `/v1/metrics`: the labels `service`, `namespace` and `instance` as the resource's
`service.name`, `service.namespace` and `service.instance.id`, the others as point attributes —
the server stores the very series.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson

from premortem.errors import IngestError
from premortem.ingest.otlp_metrics import RESOURCE_LABELS

_RESOURCE_ATTRIBUTES = {label: attribute for attribute, label in RESOURCE_LABELS.items()}


@dataclass(frozen=True, slots=True)
class Sample:
    metric: str
    labels: tuple[tuple[str, str], ...]
    time_ns: int
    value: float


def read_samples(raw: bytes, where: str) -> list[Sample]:
    """Every sample of one file, in file order; an unreadable one names where it is."""
    from premortem.ingest.fields import load_documents, timestamp_ns

    try:
        items, _ = load_documents(raw)
    except IngestError as exc:
        raise IngestError(f"{where}: not metric samples: {exc.message}") from exc
    samples: list[Sample] = []
    for index, item in enumerate(items):
        at = f"{where} at /{index}"
        if not isinstance(item, dict) or not isinstance(item.get("metric"), str):
            raise IngestError(f"{at}: a sample needs a `metric` name")
        labels = item.get("labels") or {}
        if not isinstance(labels, dict):
            raise IngestError(f"{at}/labels: must be an object")
        key = (item["metric"], tuple(sorted((str(k), str(v)) for k, v in labels.items())))
        if "points" in item:
            points = item["points"]
            if not isinstance(points, list):
                raise IngestError(f"{at}/points: must be a list of [time, value]")
            pairs = [
                (p[0], p[1]) if isinstance(p, list) and len(p) == 2 else (None, None)
                for p in points
            ]
        else:
            pairs = [(item.get("timestamp"), item.get("value"))]
        for time_value, value in pairs:
            try:
                time_ns = timestamp_ns(time_value, "/timestamp")
            except IngestError as exc:
                raise IngestError(f"{at}: {exc.message}") from exc
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise IngestError(f"{at}: a sample needs a numeric `value`")
            samples.append(Sample(key[0], key[1], time_ns, float(value)))
    return samples


def otlp_body(samples: list[Sample]) -> bytes:
    """One `ExportMetricsServiceRequest` (JSON) holding the samples, as gauges."""
    by_resource: dict[tuple[tuple[str, str], ...], dict[str, list[dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for sample in samples:
        resource = tuple((k, v) for k, v in sample.labels if k in _RESOURCE_ATTRIBUTES)
        point = {
            "timeUnixNano": str(sample.time_ns),
            "asDouble": sample.value,
            "attributes": [
                {"key": k, "value": {"stringValue": v}}
                for k, v in sample.labels
                if k not in _RESOURCE_ATTRIBUTES
            ],
        }
        by_resource[resource][sample.metric].append(point)
    return orjson.dumps(
        {
            "resourceMetrics": [
                {
                    "resource": {
                        "attributes": [
                            {"key": _RESOURCE_ATTRIBUTES[k], "value": {"stringValue": v}}
                            for k, v in resource
                        ]
                    },
                    "scopeMetrics": [
                        {
                            "scope": {"name": "premortem-replay"},
                            "metrics": [
                                {"name": name, "gauge": {"dataPoints": points}}
                                for name, points in metrics.items()
                            ],
                        }
                    ],
                }
                for resource, metrics in by_resource.items()
            ]
        }
    )
