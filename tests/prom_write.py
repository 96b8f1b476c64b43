"""A Prometheus remote-write request built by an independent encoder, for tests.

Built with Google's protobuf runtime from the schema in Prometheus' `prompb/remote.proto` and
`prompb/types.proto` (Apache-2.0; WriteRequest.timeseries = 1, TimeSeries.labels = 1 and
samples = 2, Label.name = 1 and value = 2, Sample.value = 1 (double) and timestamp = 2 (int64
milliseconds)) and compressed with snappy's block format, as Prometheus' remote_write does.
"""

from __future__ import annotations

from typing import Any

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto


def _write_request_class() -> Any:
    pool = descriptor_pool.DescriptorPool()
    proto = descriptor_pb2.FileDescriptorProto(
        name="remote.proto", package="prometheus", syntax="proto3"
    )

    def add(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        message = proto.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name

    one, many = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    add("WriteRequest", ("timeseries", 1, _F.TYPE_MESSAGE, many, ".prometheus.TimeSeries"))
    add(
        "TimeSeries",
        ("labels", 1, _F.TYPE_MESSAGE, many, ".prometheus.Label"),
        ("samples", 2, _F.TYPE_MESSAGE, many, ".prometheus.Sample"),
    )
    add("Label", ("name", 1, _F.TYPE_STRING, one, ""), ("value", 2, _F.TYPE_STRING, one, ""))
    add("Sample", ("value", 1, _F.TYPE_DOUBLE, one, ""),
        ("timestamp", 2, _F.TYPE_INT64, one, ""))  # fmt: skip
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


WriteRequest = _write_request_class()


def write_body(series: list[tuple[dict[str, str], list[tuple[int, float]]]]) -> bytes:
    """Snappy-compressed WriteRequest of (labels with __name__, [(time_ms, value)]) series."""
    request = WriteRequest()
    for labels, samples in series:
        item = request.timeseries.add()
        for name, text in labels.items():
            item.labels.add(name=name, value=text)
        for time_ms, value in samples:
            item.samples.add(value=value, timestamp=time_ms)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
