"""Prometheus remote-write 1.0 (`POST /api/v1/write`): a snappy block of `prometheus.WriteRequest`.

Schema (prometheus/prometheus, prompb/remote.proto and prompb/types.proto): `WriteRequest
{timeseries = 1: TimeSeries[]}`, `TimeSeries {labels = 1: Label[], samples = 2: Sample[]}`,
`Label {name = 1, value = 2}`, `Sample {value = 1: double, timestamp = 2: int64 ms}`. Metadata
(field 3), exemplars and native histograms are skipped: premortem keeps float samples.

Each series becomes `MetricSeries(metric, labels, points)`: the metric is the `__name__` label,
the other labels are kept as they came, points are `(time_ns, value)`. NaN samples (Prometheus'
staleness markers) are dropped: they say "this series ended", not a value.
"""

from __future__ import annotations

import math
import struct

from premortem.domain import MetricSeries
from premortem.errors import IngestError
from premortem.ingest.protowire import FIXED64, fields, message, number, signed64, text, unsnappy

MAX_NAME = 256
MAX_LABELS = 64
MAX_LABEL_VALUE = 1024
MAX_TIME_MS = 9_000_000_000_000  # 2255: below the 2^63 ns every stored time fits in


def parse_write_request(body: bytes, *, limit: int) -> list[MetricSeries]:
    """Every series of a snappy-compressed WriteRequest; raises on the first bad one."""
    series: list[MetricSeries] = []
    for index, (field_number, _, value) in enumerate(
        item for item in fields(unsnappy(body, limit=limit)) if item[0] == 1
    ):
        del field_number
        series.append(_series(message(value, at=f"/timeseries/{index}"), f"/timeseries/{index}"))
    return series


def _series(buffer: memoryview, at: str) -> MetricSeries:
    labels: dict[str, str] = {}
    points: list[tuple[int, float]] = []
    for number_, _, value in fields(buffer, at=at):
        if number_ == 1:
            name, label_value = _label(message(value, at=f"{at}/labels"), f"{at}/labels")
            labels[name] = label_value
        elif number_ == 2:
            point = _sample(message(value, at=f"{at}/samples"), f"{at}/samples/{len(points)}")
            if point is not None:
                points.append(point)
    metric = labels.pop("__name__", "")
    if not metric:
        raise IngestError("a series needs a __name__ label", pointer=f"{at}/labels")
    if len(metric) > MAX_NAME or len(labels) > MAX_LABELS:
        raise IngestError(
            f"at most {MAX_LABELS} labels and a name of {MAX_NAME} characters", pointer=at
        )
    for name, label_value in labels.items():
        if len(name) > MAX_NAME or len(label_value) > MAX_LABEL_VALUE:
            raise IngestError(f"label {name[:64]!r} is too long", pointer=f"{at}/labels")
    return MetricSeries(metric, labels, points)


def _label(buffer: memoryview, at: str) -> tuple[str, str]:
    name = value = ""
    for number_, _, item in fields(buffer, at=at):
        if number_ == 1:
            name = text(item, at=at)
        elif number_ == 2:
            value = text(item, at=at)
    return name, value


def _sample(buffer: memoryview, at: str) -> tuple[int, float] | None:
    value, time_ms = 0.0, 0
    for number_, wire, item in fields(buffer, at=at):
        if number_ == 1:
            if wire != FIXED64:
                raise IngestError("a sample's value must be a double", pointer=at)
            value = struct.unpack("<d", number(item, at=at).to_bytes(8, "little"))[0]
        elif number_ == 2:
            time_ms = signed64(number(item, at=at))
    if not 0 <= time_ms <= MAX_TIME_MS:
        raise IngestError(f"timestamp must be Unix milliseconds, got {time_ms}", pointer=at)
    if math.isnan(value):
        return None
    return time_ms * 1_000_000, value
