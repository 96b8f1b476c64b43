"""A Loki push request in protobuf + snappy, built by an independent encoder for tests.

Built with Google's protobuf runtime from the schema in Grafana Loki's `pkg/push/push.proto`
(Apache-2.0; messages PushRequest, StreamAdapter, EntryAdapter, LabelPairAdapter with their field
numbers) and compressed with snappy's block format, as Loki's clients (Promtail, Alloy) do — so
premortem's reader is checked against another implementation, not against itself.
"""

from __future__ import annotations

from typing import Any

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

_F = descriptor_pb2.FieldDescriptorProto


def _push_request_class() -> Any:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    proto = descriptor_pb2.FileDescriptorProto(
        name="push.proto", package="logproto", syntax="proto3"
    )
    proto.dependency.append("google/protobuf/timestamp.proto")

    def add(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        message = proto.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name

    one, many = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    add(
        "PushRequest",
        ("streams", 1, _F.TYPE_MESSAGE, many, ".logproto.StreamAdapter"),
        ("format", 2, _F.TYPE_STRING, one, ""),
    )
    add(
        "StreamAdapter",
        ("labels", 1, _F.TYPE_STRING, one, ""),
        ("entries", 2, _F.TYPE_MESSAGE, many, ".logproto.EntryAdapter"),
        ("hash", 3, _F.TYPE_UINT64, one, ""),
    )
    add(
        "LabelPairAdapter",
        ("name", 1, _F.TYPE_STRING, one, ""),
        ("value", 2, _F.TYPE_STRING, one, ""),
    )
    add("EntryAdapter", ("timestamp", 1, _F.TYPE_MESSAGE, one, ".google.protobuf.Timestamp"),
        ("line", 2, _F.TYPE_STRING, one, ""),
        ("structuredMetadata", 3, _F.TYPE_MESSAGE, many, ".logproto.LabelPairAdapter"))  # fmt: skip
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("logproto.PushRequest"))


PushRequest = _push_request_class()


def push_body(streams: list[dict[str, Any]]) -> bytes:
    request = PushRequest()
    for stream in streams:
        adapter = request.streams.add(labels=stream["labels"], hash=12345)
        for time_ns, line, metadata in stream["entries"]:
            entry = adapter.entries.add(line=line)
            entry.timestamp.seconds, entry.timestamp.nanos = divmod(time_ns, 1_000_000_000)
            for name, value in metadata.items():
                entry.structuredMetadata.add(name=name, value=value)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
