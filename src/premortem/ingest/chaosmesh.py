"""Chaos Mesh experiment objects (NetworkChaos, StressChaos, PodChaos, IOChaos, …) as test runs.

An object is the fault: `spec` says what (`action`, its parameters, `duration`) and where
(`selector`); `status.experiment.containerRecords[].events` say when each target was injected
(`operation: Apply`) and recovered (`operation: Recover`), and whether that worked (`type:
Succeeded|Failed`) — the shapes of chaos-mesh `api/v1alpha1/common_types.go`. The run starts
when the object was created (or at the first successful injection, if that came first), its
fault at the first successful injection — what came between is the run's own normal operation —
and it ends at the last recovery, so `premortem train` ties the logs of that stretch to it.

Chaos Mesh records the fault, not what the system did: a run is a failure only when its
annotations say so — `premortem.dev/expected-outcome`, `premortem.dev/actual-outcome`,
`premortem.dev/failure-details`, `premortem.dev/failure-time` (set by whoever checks the system,
e.g. a Workflow's status check or a CI step; ingest/annotations.py lists every one read) — or
when a failure/incident event in the same stretch says so. Without them a run is a fault the
system survived, which is what the correlation engine needs to tell harmless faults from
harmful ones. Test ids derive from the object's uid, so a re-sent, updated object replaces the
earlier version.
"""

from __future__ import annotations

import re
from typing import Any

from premortem.domain import JSON, rfc3339_ns
from premortem.errors import IngestError
from premortem.ingest.annotations import (
    app_label,
    check_object_keys,
    run_fields,
    with_fault_start,
)
from premortem.ingest.fields import (
    expect_object,
    kubernetes_objects,
    load_json,
    optional_object,
    timestamp_ns,
    without_none,
)
from premortem.ingest.native import ParsedTestRun, validate_test_run

_FAULT_TYPES = {
    ("NetworkChaos", "delay"): "network_latency",
    ("NetworkChaos", "loss"): "network_loss",
    ("NetworkChaos", "partition"): "network_partition",
    ("NetworkChaos", "duplicate"): "network_duplicate",
    ("NetworkChaos", "corrupt"): "network_corrupt",
    ("NetworkChaos", "bandwidth"): "network_bandwidth",
    ("PodChaos", "pod-kill"): "pod_kill",
    ("PodChaos", "pod-failure"): "pod_failure",
    ("PodChaos", "container-kill"): "process_kill",
    ("IOChaos", "latency"): "io_latency",
    ("IOChaos", "fault"): "io_error",
    ("IOChaos", "attrOverride"): "io_attr_override",
    ("IOChaos", "mistake"): "io_mistake",
}
# spec path -> (unit) of the value a fault of that action carries
_VALUES = {
    "delay": (("delay", "latency"), "ms"),
    "loss": (("loss", "loss"), "percent"),
    "duplicate": (("duplicate", "duplicate"), "percent"),
    "corrupt": (("corrupt", "corrupt"), "percent"),
    "bandwidth": (("bandwidth", "rate"), ""),
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse(data: bytes | str | Any, *, now_ns: int) -> list[ParsedTestRun]:
    """One Chaos Mesh object, a JSON array of them, or a `kind: List` / `*List` with `items`."""
    items, prefix = kubernetes_objects(load_json(data))
    parsed = []
    for index, item in enumerate(items):
        at = "" if prefix is None else f"{prefix}/{index}"
        try:
            run = run_doc(expect_object(item, ""), now_ns=now_ns)
        except IngestError as exc:
            raise exc.at(at) from None
        parsed.append(validate_test_run(run, at=at))
    return parsed


def run_doc(obj: JSON, *, now_ns: int) -> JSON:
    """The native test-run document of one Chaos Mesh object."""
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind.endswith("Chaos"):
        raise IngestError(f"must be a Chaos Mesh kind (…Chaos), got {kind!r:.64}", pointer="/kind")
    check_object_keys(obj)
    metadata = optional_object(obj, "metadata", "")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise IngestError("is required", pointer="/metadata/name")
    spec = optional_object(obj, "spec", "")
    status = optional_object(obj, "status", "")
    applied, recovered, failures = _record_times(status)
    created = metadata.get("creationTimestamp")
    created_ns = timestamp_ns(created, "/metadata/creationTimestamp") if created else None
    # The run starts when the object was made, its fault at the first injection: what came
    # between is the run's own normal operation. Without injections, at the object's creation.
    starts = [t for t in (created_ns, min(applied) if applied else None) if t is not None]
    start_ns = min(starts) if starts else now_ns
    notes = run_fields(metadata)
    service = notes.get("service") or _service(spec)
    faults = [
        {**fault, **({"start": rfc3339_ns(min(applied))} if applied else {})}
        for fault in _faults(kind, spec, service)
    ]
    doc: JSON = {
        "test_id": _run_id(metadata, kind, name),
        "timestamp": rfc3339_ns(start_ns),
        "service": service,
        "injected_faults": faults,
        "parameters": without_none({"duration_s": _seconds(spec.get("duration"))}),
        "source_format": "chaosmesh",
        "chaos_kind": kind,
        "action": spec.get("action"),
        "mode": spec.get("mode"),
        "conditions": _conditions(status),
        "injection_failures": failures or None,
    }
    if recovered and max(recovered) >= start_ns:
        doc["ended_at"] = rfc3339_ns(max(recovered))
    doc.update(notes)  # what whoever ran it says wins over what the object's status shows
    return {k: v for k, v in with_fault_start(doc).items() if v is not None}


def fault_type(kind: str, action: str) -> str:
    known = _FAULT_TYPES.get((kind, action))
    if known:
        return known
    family = kind.removesuffix("Chaos").lower()
    return f"{family}_{action.replace('-', '_')}" if action else family


def _faults(kind: str, spec: JSON, service: str | None) -> list[JSON]:
    base: JSON = {"target": _target(spec) or service}
    duration = _seconds(spec.get("duration"))
    if duration is not None:
        base["duration"] = duration
    if kind == "StressChaos":  # one fault per stressor: cpu and memory pressure differ
        stressors = optional_object(spec, "stressors", "/spec")
        faults = []
        for stressor, stress_type in (("cpu", "cpu_hog"), ("memory", "memory_hog")):
            settings = stressors.get(stressor)
            if isinstance(settings, dict):
                value = settings.get("load") if stressor == "cpu" else settings.get("size")
                unit = "percent" if stressor == "cpu" else None
                faults.append(
                    {"type": stress_type, "name": f"StressChaos/{stressor}", **base}
                    | ({"value": value} if value is not None else {})
                    | ({"unit": unit} if unit and value is not None else {})
                )
        return faults or [{"type": "stress", "name": "StressChaos", **base}]
    action = str(spec.get("action") or "")
    fault: JSON = {"type": fault_type(kind, action), "name": f"{kind}/{action}", **base}
    path, unit = _VALUES.get(action, ((), ""))
    # An action without a value of its own (partition) has none: not the whole spec.
    value = _at(spec, path) if kind == "NetworkChaos" and path else None
    if kind == "IOChaos" and action == "latency":
        value, unit = spec.get("delay"), "ms"
    if kind == "IOChaos" and action == "fault":
        value, unit = spec.get("errno"), "errno"
    if value is not None:
        seconds = _seconds(value) if unit == "ms" else None
        fault["value"] = round(seconds * 1000, 3) if seconds is not None else value
        if unit:
            fault["unit"] = unit
    return [fault]


def _record_times(status: JSON) -> tuple[list[int], list[int], list[str]]:
    """Successful injection and recovery times over every target, and failed steps' messages."""
    experiment = status.get("experiment") if isinstance(status.get("experiment"), dict) else {}
    records = (experiment or {}).get("containerRecords") or []
    applied, recovered, failures = [], [], []
    for r, record in enumerate(records if isinstance(records, list) else []):
        events = record.get("events") if isinstance(record, dict) else None
        for e, event in enumerate(events if isinstance(events, list) else []):
            if not isinstance(event, dict) or not event.get("timestamp"):
                continue
            at = f"/status/experiment/containerRecords/{r}/events/{e}/timestamp"
            when = timestamp_ns(event["timestamp"], at)
            if event.get("type") == "Failed":
                failures.append(f"{event.get('operation')}: {event.get('message', '')}"[:300])
            elif event.get("operation") == "Apply":
                applied.append(when)
            elif event.get("operation") == "Recover":
                recovered.append(when)
    return applied, recovered, failures


def _conditions(status: JSON) -> dict[str, str] | None:
    found = {
        str(c.get("type")): str(c.get("status"))
        for c in status.get("conditions") or []
        if isinstance(c, dict) and c.get("type")
    }
    return found or None


def _service(spec: JSON) -> str | None:
    return app_label(_selector(spec).get("labelSelectors"))


def _target(spec: JSON) -> str | None:
    selector = _selector(spec)
    labels = selector.get("labelSelectors")
    parts = [f"{k}={v}" for k, v in sorted(labels.items())] if isinstance(labels, dict) else []
    namespaces = selector.get("namespaces")
    if isinstance(namespaces, list) and namespaces:
        parts.insert(0, "ns=" + ",".join(str(n) for n in namespaces))
    return " ".join(parts)[:256] or None


def _selector(spec: JSON) -> JSON:
    selector = spec.get("selector")
    return selector if isinstance(selector, dict) else {}


def _run_id(metadata: JSON, kind: str, name: str) -> str:
    uid = str(metadata.get("uid") or "")[:8]
    namespace = metadata.get("namespace") or "default"
    return "-".join(p for p in ("chaosmesh", str(namespace), kind.lower(), name, uid) if p)


def _at(obj: JSON, path: tuple[str, ...]) -> Any:
    value: Any = obj
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _seconds(value: Any) -> float | None:
    """A Go duration ("90ms", "1h30m", "10s") in seconds; a bare number is seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value.strip():
        return None
    return round(sum(float(n) * _SECONDS[u] for n, u in parts), 6)
