"""Chaos Mesh objects as test runs (issue 17): the examples shipped with Chaos Mesh, with status
records in the shape of its API types (tests/fixtures/ingest/chaosmesh/README.md)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from premortem.errors import IngestError
from premortem.ingest import TEST_RUN_FORMATS, chaosmesh

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ingest" / "chaosmesh"
NOW = 1_800_000_000 * 10**9


def _parse(name: str) -> list:
    return chaosmesh.parse((FIXTURES / name).read_bytes(), now_ns=NOW)


def test_network_delay_with_its_outcome_annotations_is_a_failed_run() -> None:
    (parsed,) = _parse("network-delay.json")
    run = parsed.run
    assert run.test_id == "chaosmesh-shop-networkchaos-network-delay-example-6f1c2d3e"
    # The run starts when the object was made, its fault at the first injection: what came
    # between is the run's own normal operation.
    assert run.timestamp.isoformat() == "2026-05-04T10:00:00+00:00"
    assert run.ended_at is not None and run.ended_at.isoformat().startswith("2026-05-04T10:00:11.6")
    (fault,) = run.injected_faults
    assert fault.start is not None
    assert fault.start.isoformat() == "2026-05-04T10:00:01.500000+00:00"  # first injection
    assert (fault.type, fault.value, fault.unit, fault.duration) == (
        "network_latency",
        90.0,
        "ms",
        10.0,
    )
    assert fault.target == "app.kubernetes.io/component=tikv"
    assert run.service == "tikv"
    assert run.failed and run.failure_details == "checkout latency SLO breached"
    assert run.failure_time is not None
    assert (run.model_extra or {})["conditions"]["AllRecovered"] == "True"


def test_a_fault_without_outcome_annotations_is_one_the_system_survived() -> None:
    (parsed,) = _parse("pod-kill.json")
    run = parsed.run
    assert [f.type for f in run.injected_faults] == ["pod_kill"]
    assert not run.failed
    assert run.ended_at is None  # still injected: no recovery recorded yet


def test_a_list_of_stress_and_io_chaos() -> None:
    stress, io = (p.run for p in _parse("list.json"))
    assert [(f.type, f.value, f.unit) for f in stress.injected_faults] == [
        ("cpu_hog", 100, "percent")
    ]
    assert (stress.model_extra or {})["injection_failures"] == [
        "Apply: container not found, retrying"
    ]
    assert stress.timestamp.isoformat() == "2026-05-04T10:10:00+00:00"  # created
    assert stress.injected_faults[0].start is not None
    assert stress.injected_faults[0].start.isoformat() == "2026-05-04T10:10:02+00:00"  # applied
    (fault,) = io.injected_faults
    assert (fault.type, fault.value, fault.unit, fault.duration) == (
        "io_latency",
        10.0,
        "ms",
        400.0,
    )
    assert io.service == "etcd"
    assert io.timestamp.isoformat() == "2026-05-04T10:20:00+00:00"  # no status: its creation


def test_registered_as_a_test_run_format() -> None:
    assert TEST_RUN_FORMATS["chaosmesh"] is chaosmesh.parse


@pytest.mark.parametrize(
    ("doc", "pointer"),
    [
        ({"kind": "Deployment", "metadata": {"name": "x"}}, "/kind"),
        ({"kind": "PodChaos", "metadata": {}}, "/metadata/name"),
        ({"kind": "List", "items": [{"kind": "PodChaos"}]}, "/items/0/metadata/name"),
        (
            {
                "kind": "PodChaos",
                "metadata": {"name": "x"},
                "status": {
                    "experiment": {
                        "containerRecords": [
                            {"events": [{"operation": "Apply", "timestamp": "yesterday"}]}
                        ]
                    }
                },
            },
            "/status/experiment/containerRecords/0/events/0/timestamp",
        ),
    ],
)
def test_errors_name_the_field(doc: object, pointer: str) -> None:
    with pytest.raises(IngestError) as info:
        chaosmesh.parse(orjson.dumps(doc), now_ns=NOW)
    assert info.value.pointer == pointer


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90ms", 0.09), ("10s", 10.0), ("1h30m", 5400.0), ("1.5s", 1.5), (30, 30.0), ("soon", None)],
)
def test_go_durations(text: object, seconds: float | None) -> None:
    assert chaosmesh._seconds(text) == seconds


def test_annotations_give_the_end_and_services_and_refuse_a_misspelling() -> None:
    doc = orjson.loads((FIXTURES / "pod-kill.json").read_bytes())
    doc["metadata"].setdefault("annotations", {}).update(
        {"premortem.dev/ended-at": "2026-05-04T10:06:00Z", "premortem.dev/services": "cart,web"}
    )
    (parsed,) = chaosmesh.parse(doc, now_ns=NOW)
    assert parsed.run.ended_at is not None and parsed.run.services == ["cart", "web"]
    doc["metadata"]["annotations"]["premortem.dev/endedat"] = "2026-05-04T10:06:00Z"
    with pytest.raises(IngestError) as info:
        chaosmesh.parse(doc, now_ns=NOW)
    assert info.value.pointer == "/metadata/annotations/premortem.dev~1endedat"


def test_a_network_partition_has_no_value() -> None:
    """`partition` carries no value of its own: the whole spec was taken for one (a 400 about
    `/injected_faults/0/value`, a field of premortem's own document, not of what was sent)."""
    doc = orjson.loads((FIXTURES / "network-delay.json").read_bytes())
    spec = doc["spec"]
    spec.pop("delay", None)
    spec.update(action="partition", direction="to")
    (parsed,) = chaosmesh.parse(doc, now_ns=NOW)
    (fault,) = parsed.run.injected_faults
    assert (fault.type, fault.value) == ("network_partition", None)
