"""CloudEvents (structured, batch, binary), Kubernetes events and the mixed dispatcher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from premortem.domain import stable_id
from premortem.errors import IngestError
from premortem.ingest import cloudevents, events, k8s

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ingest"
NOW = 1_714_564_800_000_000_000
CE = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}


def test_cloudevents_batch_fixture() -> None:
    deploy, config, raw = cloudevents.parse_structured(
        (FIXTURES / "cloudevents-batch.json").read_bytes(), now_ns=NOW
    )
    assert (deploy.type, deploy.service, deploy.time_ns) == (
        "com.example.deploy.finished",
        "checkout",
        1_522_949_460_000_000_000,
    )
    assert deploy.id == stable_id("cloudevent", "/ci/pipelines/42", "C234-1234")
    assert deploy.data == {"service": "checkout", "version": "1.4.2"}
    assert (config.service, config.attributes) == ("payments", {"team": "core"})
    assert config.time_ns == 1_522_945_920_500_000_000
    assert (raw.service, raw.data, raw.time_ns) == ("search", "hello", NOW)


def test_cloudevents_empty_batch_and_redelivery() -> None:
    assert cloudevents.parse_structured(b"[]", now_ns=NOW) == []
    once = cloudevents.parse_structured(
        orjson.dumps(CE | {"time": "2024-05-01T00:00:00Z"}), now_ns=1
    )
    again = cloudevents.parse_structured(
        orjson.dumps(CE | {"time": "2024-05-01T00:00:00Z"}), now_ns=2
    )
    assert once[0].id == again[0].id


@pytest.mark.parametrize(
    ("doc", "pointer"),
    [
        ([CE, {k: v for k, v in CE.items() if k != "id"}], "/1/id"),
        ([CE | {"specversion": "0.3"}], "/0/specversion"),
        ([CE | {"source": 5}], "/0/source"),
        ([CE | {"type": ""}], "/0/type"),
        ([CE | {"time": "last tuesday"}], "/0/time"),
        ([CE | {"data": 1, "data_base64": "AA=="}], "/0/data_base64"),
        ([CE | {"data_base64": "%%%"}], "/0/data_base64"),
        (CE | {"subject": 3}, "/subject"),
        (CE | {"id": "i" * 513}, "/id"),
        (CE | {"source": "s" * 513}, "/source"),
    ],
)
def test_cloudevents_errors(doc: Any, pointer: str) -> None:
    with pytest.raises(IngestError) as info:
        cloudevents.parse_structured(orjson.dumps(doc), now_ns=NOW)
    assert info.value.pointer == pointer


def test_cloudevents_binary_mode() -> None:
    headers = {
        "CE-SpecVersion": "1.0",
        "ce-id": "42",
        "ce-source": "/deploys",
        "ce-type": "com.example.deploy",
        "ce-time": "2024-05-01T12:00:00Z",
        "ce-subject": "checkout%20api",
        "ce-region": "eu",
        "Content-Type": "application/json",
    }
    event = cloudevents.parse_binary(headers, b'{"version": "2"}', now_ns=0)
    assert (event.subject, event.service, event.time_ns) == ("checkout api", "checkout api", NOW)
    assert event.attributes == {"region": "eu", "datacontenttype": "application/json"}
    assert event.data == {"version": "2"}


@pytest.mark.parametrize(
    ("headers", "body", "pointer"),
    [
        ({"ce-id": "1", "ce-source": "/s", "ce-type": "t"}, b"", "/headers/ce-specversion"),
        ({"ce-specversion": "1.0", "ce-source": "/s", "ce-type": "t"}, b"", "/headers/ce-id"),
        (
            {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"},
            b"{bad",
            "/body",
        ),
    ],
)
def test_cloudevents_binary_errors(headers: dict[str, str], body: bytes, pointer: str) -> None:
    with pytest.raises(IngestError) as info:
        cloudevents.parse_binary(headers, body, now_ns=NOW)
    assert info.value.pointer == pointer


# --------------------------------------------------------------------------- Kubernetes


def test_k8s_eventlist_fixture() -> None:
    backoff, scaled = k8s.parse_events((FIXTURES / "k8s-eventlist.json").read_bytes(), now_ns=NOW)
    assert (backoff.type, backoff.service, backoff.source) == (
        "k8s.BackOff",
        "checkout",
        "k8s/kubelet",
    )
    assert backoff.time_ns == 1_714_565_100_000_000_000  # lastTimestamp
    assert backoff.subject == "Pod/prod/checkout-7d9f8b6c5-x2k4p"
    assert backoff.attributes["k8s.event.count"] == 7
    assert backoff.data == {"message": "Back-off restarting failed container"}
    assert scaled.time_ns == 1_714_565_160_123_456_000  # eventTime wins over series
    assert (scaled.service, scaled.source) == ("web", "k8s/deployment-controller")


def _event(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "Event",
        "metadata": {"name": "e", "namespace": "ns", "uid": "u"},
        "involvedObject": {"kind": "ReplicaSet", "name": "payments-5c6b7d8f9x"},
        "reason": "FailedCreate",
        **extra,
    }


def test_k8s_time_rule_and_watch_stream() -> None:
    series = _event(
        series={"lastObservedTime": "2024-05-01T12:00:01Z"}, lastTimestamp="2024-05-01T11:00:00Z"
    )
    first_only = _event(firstTimestamp="2024-05-01T10:00:00Z")
    lines = b"\n".join(
        orjson.dumps(envelope)
        for envelope in (
            {"type": "ADDED", "object": series},
            {"type": "BOOKMARK", "object": {"kind": "Event", "metadata": {"resourceVersion": "9"}}},
            {"type": "MODIFIED", "object": first_only},
        )
    )
    a, b = k8s.parse_events(lines, now_ns=NOW)
    assert a.time_ns == 1_714_564_801_000_000_000
    assert b.time_ns == 1_714_557_600_000_000_000
    assert a.service == "payments"
    [undated] = k8s.parse_events(orjson.dumps(_event()), now_ns=NOW)
    assert undated.time_ns == NOW


def test_k8s_labels_name_the_service() -> None:
    doc = _event()
    doc["metadata"]["labels"] = {"app.kubernetes.io/name": "cart"}
    assert k8s.parse_events(orjson.dumps(doc), now_ns=NOW)[0].service == "cart"


def test_k8s_events_api_v1_spelling() -> None:
    doc = {"regarding": {"kind": "Pod", "name": "web-frontend-x2k4p"}, "reason": "Killing",
           "note": "Stopping container", "deprecatedLastTimestamp": "2024-05-01T12:00:00Z",
           "reportingController": "kubelet"}  # fmt: skip
    [event] = k8s.parse_events(orjson.dumps(doc), now_ns=0)
    assert (event.service, event.time_ns, event.data) == (
        "web-frontend",
        NOW,
        {"message": "Stopping container"},
    )


@pytest.mark.parametrize(
    ("doc", "pointer"),
    [
        ({"kind": "EventList", "items": [_event(), _event(reason=None)]}, "/items/1/reason"),
        ([_event(), _event(kind="Pod")], "/1/kind"),
        (_event(lastTimestamp="noon"), "/lastTimestamp"),
        ({"type": "ADDED", "object": _event(eventTime=5.5e20)}, "/object/eventTime"),
        ({"type": "ADDED", "object": _event(metadata=[])}, "/object/metadata"),
        ({"kind": "EventList", "items": {}}, "/items"),
        # Longer than the store's column: a 400 naming it, never a 500 from PostgreSQL.
        (_event(metadata={"name": "e", "uid": "u" * 513}), "/metadata/uid"),
    ],
)
def test_k8s_errors(doc: Any, pointer: str) -> None:
    with pytest.raises(IngestError) as info:
        k8s.parse_events(orjson.dumps(doc), now_ns=NOW)
    assert info.value.pointer == pointer


# --------------------------------------------------------------------------- mixed


def test_mixed_batch_dispatch() -> None:
    batch = [
        CE,
        _event(),
        {"type": "ADDED", "object": _event()},
        {"type": "deploy", "service": "x"},
    ]
    parsed = events.parse_events(orjson.dumps(batch), now_ns=NOW)
    assert [e.type for e in parsed] == ["t", "k8s.FailedCreate", "k8s.FailedCreate", "deploy"]


def test_mixed_batch_error_pointer() -> None:
    with pytest.raises(IngestError) as info:
        events.parse_events(orjson.dumps([CE, {"kind": "EventList", "items": [{}]}]), now_ns=NOW)
    assert info.value.pointer == "/1/items/0/reason"
