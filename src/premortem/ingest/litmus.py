"""LitmusChaos `ChaosResult` and `ChaosEngine` objects (formats.md §7) as native test runs.

A ChaosResult gives one run: the experiment (`spec.experiment`) is the fault, the verdict the
outcome (expected `Pass`; `Awaited` means still running, so no outcome yet). A ChaosEngine gives one
run per experiment, with the fault's parameters read from its env vars (`TOTAL_CHAOS_DURATION`,
`NETWORK_LATENCY`, ...) and the verdict from `status.experiments`; a ChaosResult sent with its
engine completes the engine's run. Neither says when a run ended: the engine's
`TOTAL_CHAOS_DURATION` does, or the `premortem.dev/` annotations (ingest/annotations.py:
`ended-at`, `duration-s`, `services`, ...). Test ids derive from the object's uid, so a re-sent,
updated object replaces the earlier version.
"""

from __future__ import annotations

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
    expect_array,
    expect_object,
    kubernetes_objects,
    load_json,
    optional_object,
    timestamp_ns,
    without_none,
)
from premortem.ingest.native import ParsedTestRun, validate_test_run

EXPECTED = "verdict Pass"
_FAULT_TYPES = {
    "pod-delete": "pod_kill",
    "container-kill": "process_kill",
    "pod-network-latency": "network_latency",
    "pod-network-loss": "network_loss",
    "pod-network-partition": "network_partition",
    "pod-cpu-hog": "cpu_hog",
    "node-cpu-hog": "cpu_hog",
    "pod-memory-hog": "memory_hog",
    "node-memory-hog": "memory_hog",
}
# env var -> (fault field, unit)
_ENV_VALUES = (
    ("NETWORK_LATENCY", "ms"),
    ("NETWORK_PACKET_LOSS_PERCENTAGE", "percent"),
    ("CPU_CORES", "cores"),
    ("CPU_LOAD", "percent"),
    ("MEMORY_CONSUMPTION", "MB"),
)


def parse(data: bytes | str | Any, *, now_ns: int) -> list[ParsedTestRun]:
    """A ChaosResult, a ChaosEngine, or a list (JSON array or `kind: List`) of them. In one list,
    a ChaosResult of an engine in the list (`spec.engine`, `spec.experiment`) completes that
    engine's run for the experiment: the engine says where, how long and with what values, the
    result what came of it."""
    items, prefix = kubernetes_objects(load_json(data))
    engine_runs: dict[tuple[object, object], JSON] = {}
    docs: list[tuple[str, JSON]] = []
    results: list[tuple[str, JSON]] = []
    for index, item in enumerate(items):
        at = "" if prefix is None else f"{prefix}/{index}"
        obj = expect_object(item, at)
        try:
            check_object_keys(obj)
            kind = obj.get("kind")
            if kind == "ChaosResult":
                results.append((at, result_doc(obj, now_ns=now_ns)))
            elif kind == "ChaosEngine":
                for doc in engine_docs(obj, now_ns=now_ns):
                    engine_runs[(doc["engine"], _experiment(doc))] = doc
                    docs.append((at, doc))
            else:
                raise IngestError(
                    f"must be 'ChaosResult' or 'ChaosEngine', got {kind!r:.64}", pointer="/kind"
                )
        except IngestError as exc:
            raise exc.at(at) from None
    for at, result in results:
        engine_run = engine_runs.get((result.get("engine"), _experiment(result)))
        if engine_run is None:
            docs.append((at, result))
        else:
            _complete(engine_run, result)
    return [validate_test_run(doc, at=at) for at, doc in docs]


def _experiment(doc: JSON) -> object:
    return doc["injected_faults"][0]["name"]


# An engine's run keeps its own identity, time and fault (with the values from its env vars).
_ENGINE_OWN = frozenset({"test_id", "timestamp", "injected_faults", "engine", "source_format"})


def _complete(engine_run: JSON, result: JSON) -> None:
    """The result's outcome (and anything the engine's run lacks) on the engine's run."""
    parameters = {**engine_run.get("parameters", {}), **result.get("parameters", {})}
    for key, value in result.items():
        engine_knows = key in _ENGINE_OWN or (key == "service" and engine_run.get("service"))
        if value is not None and not engine_knows:
            engine_run[key] = value
    engine_run["parameters"] = parameters


def _metadata(obj: JSON, now_ns: int) -> tuple[JSON, str, int]:
    metadata = optional_object(obj, "metadata", "")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise IngestError("is required", pointer="/metadata/name")
    created = metadata.get("creationTimestamp")
    time_ns = timestamp_ns(created, "/metadata/creationTimestamp") if created else now_ns
    return metadata, name, time_ns


def _run_id(metadata: JSON, *parts: str) -> str:
    uid = str(metadata.get("uid") or "")[:8]
    namespace = metadata.get("namespace") or "default"
    return "-".join(p for p in ("litmus", namespace, *parts, uid) if p)


def fault_type(experiment: str) -> str:
    known = _FAULT_TYPES.get(experiment)
    if known:
        return known
    return experiment.removeprefix("pod-").removeprefix("node-").replace("-", "_")


def result_doc(obj: JSON, *, now_ns: int) -> JSON:
    metadata, name, time_ns = _metadata(obj, now_ns)
    spec = optional_object(obj, "spec", "")
    status = optional_object(obj, "status", "")
    experiment_status = optional_object(status, "experimentStatus", "/status")
    experiment = str(spec.get("experiment") or name)
    verdict = experiment_status.get("verdict")
    probes = status.get("probeStatuses") or status.get("probeStatus") or []
    percentage = experiment_status.get("probeSuccessPercentage")
    doc: JSON = {
        "test_id": _run_id(metadata, name),
        "timestamp": rfc3339_ns(time_ns),
        "parameters": {},
        # What the probes measured is an outcome, never a load condition to learn from.
        "results": without_none({"probe_success_percentage": _number(percentage)}),
        "injected_faults": [{"type": fault_type(experiment), "name": experiment}],
        "expected_outcome": EXPECTED,
        "actual_outcome": _actual(verdict),
        "failure_details": _details(experiment_status.get("failStep"), probes),
        "service": _target(status) or app_label(metadata.get("labels")),
        "source_format": "litmus",
        "engine": spec.get("engine"),
        "phase": experiment_status.get("phase"),
        "probes": probes if isinstance(probes, list) else [],
    }
    doc.update(run_fields(metadata))  # what whoever ran it says wins
    return with_fault_start(doc)


def _target(status: JSON) -> str | None:
    """The application the result's history names as its target (`status.history.targets`)."""
    history = status.get("history")
    targets = history.get("targets") if isinstance(history, dict) else None
    for target in targets if isinstance(targets, list) else []:
        if isinstance(target, dict) and isinstance(target.get("name"), str) and target["name"]:
            return str(target["name"])
    return None


def engine_docs(obj: JSON, *, now_ns: int) -> list[JSON]:
    metadata, name, time_ns = _metadata(obj, now_ns)
    spec = optional_object(obj, "spec", "")
    status = optional_object(obj, "status", "")
    statuses = {s.get("name"): s for s in status.get("experiments") or [] if isinstance(s, dict)}
    appinfo = spec.get("appinfo") if isinstance(spec.get("appinfo"), dict) else {}
    service = str((appinfo or {}).get("applabel") or "").partition("=")[2] or app_label(
        metadata.get("labels")
    )
    notes = run_fields(metadata)
    service = notes.get("service") or service
    docs = []
    experiments = expect_array(spec.get("experiments") or [], "/spec/experiments")
    for index, experiment in enumerate(experiments):
        at = f"/spec/experiments/{index}"
        experiment = expect_object(experiment, at)
        exp_name = experiment.get("name")
        if not isinstance(exp_name, str) or not exp_name:
            raise IngestError("is required", pointer=f"{at}/name")
        state = statuses.get(exp_name, {})
        fault = _engine_fault(exp_name, _env(experiment, at), service)
        updated = state.get("lastUpdateTime")
        failed = str(state.get("verdict") or "").lower() == "fail"
        # One experiment runs from the engine's start for its chaos duration; of several, run
        # one after another, only the first one's start is known.
        alone = len(experiments) == 1 and fault.get("duration") is not None
        docs.append(
            with_fault_start(
                {
                    "test_id": _run_id(metadata, name, exp_name),
                    "timestamp": rfc3339_ns(time_ns),
                    "duration_s": fault["duration"] if alone else None,
                    "parameters": {k: v for k, v in fault.items() if k == "duration"},
                    "injected_faults": [fault],
                    "expected_outcome": EXPECTED,
                    "actual_outcome": _actual(state.get("verdict")),
                    # The verdict's time is when the probes noticed, not when the system failed:
                    # the onset is found in the run's logs (docs/correlation.md).
                    "failure_detected_at": rfc3339_ns(
                        timestamp_ns(updated, f"/status/experiments/{exp_name}/lastUpdateTime")
                    )
                    if failed and updated
                    else None,
                    "service": service,
                    "source_format": "litmus",
                    "engine": name,
                    "engine_status": status.get("engineStatus"),
                    "experiment_status": state.get("status"),
                    **notes,
                }
            )
        )
    return docs


def _env(experiment: JSON, at: str) -> dict[str, str]:
    spec = experiment.get("spec") if isinstance(experiment.get("spec"), dict) else {}
    components = (spec or {}).get("components")
    env = components.get("env") if isinstance(components, dict) else None
    pairs = expect_array(env or [], f"{at}/spec/components/env")
    return {
        str(p["name"]): str(p.get("value", ""))
        for p in pairs
        if isinstance(p, dict) and isinstance(p.get("name"), str)
    }


def _engine_fault(experiment: str, env: dict[str, str], service: str | None) -> JSON:
    fault: JSON = {"type": fault_type(experiment), "name": experiment}
    if service:
        fault["target"] = service
    for key, unit in _ENV_VALUES:
        value = _number(env.get(key))
        if value is not None:
            fault["value"], fault["unit"] = value, unit
            break
    duration = _number(env.get("TOTAL_CHAOS_DURATION"))
    if duration is not None:
        fault["duration"] = duration
    return fault


def _number(value: Any) -> int | float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    try:
        number = float(str(value))
    except ValueError:
        return None  # "Awaited", "", None
    return int(number) if number.is_integer() else number


def _actual(verdict: Any) -> str | None:
    if not isinstance(verdict, str) or verdict.lower() in ("", "awaited"):
        return None  # still running: no outcome yet
    return f"verdict {verdict}"


def _details(fail_step: Any, probes: Any) -> str | None:
    parts = [f"failStep: {fail_step}"] if fail_step and fail_step != "N/A" else []
    for probe in probes if isinstance(probes, list) else []:
        status = probe.get("status") if isinstance(probe, dict) else None
        if isinstance(status, dict) and str(status.get("verdict", "")).lower() == "failed":
            parts.append(f"probe {probe.get('name')}: {status.get('description', 'failed')}")
    return "; ".join(parts) or None
