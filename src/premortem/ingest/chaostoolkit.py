"""Chaos Toolkit journals (`chaos run` output, formats.md §6) as native test runs.

Mapping:
- `test_id` = slug of the experiment title + the journal's start (`...-20240501T120000Z`);
  `timestamp` = journal start; times without an offset are UTC (older chaoslib writes naive UTC).
- method actions → `injected_faults`; the fault type is read from the action's name and provider
  (`inject-db-latency` → `db_latency`, `add_latency` → `network_latency`, cpu → `cpu_hog`,
  kill → `process_kill`, leak → `connection_leak`, spike/load → `load_spike`); the action's start
  is the fault's start, its `duration` argument the fault's duration.
- outcome: expected "steady state met"; actual from the after-hypothesis (or the before one when
  it already failed); `failure_details` = the failing probes and what they saw. No `failure_time`:
  a probe's end is when the test *noticed*, often long after the system failed, so premortem
  finds the onset in the run's logs (docs/correlation.md); the probe's end is kept as
  `failure_detected_at`. Only a system already failing before the method (the before-hypothesis
  not met) gets `failure_time`, the end of those probes.
- the experiment's `title` is kept: failures of different experiments reported by the same probe
  ("probe no-errors failed its tolerance") are told apart by it (`learn.episodes`).
- rollbacks are kept in the document under `rollbacks` (later stages turn them into mitigations);
  the title, tags, status and `deviated` are kept too.

Chaos Toolkit's HTTP notifications (`{"name": "run-completed", "payload": <journal>, ...}`) carry
the journal for the run-* events: `journal_from_notification` unwraps it.
"""

from __future__ import annotations

import re
from typing import Any

from premortem.domain import JSON, rfc3339_ns
from premortem.errors import IngestError
from premortem.ingest.fields import (
    checked,
    each_record,
    expect_array,
    expect_object,
    json_text,
    load_json,
    rfc3339_to_ns,
)
from premortem.ingest.native import ParsedTestRun, validate_test_run

EXPECTED = "steady state met"
_FAULT_RULES = (
    (("leak",), "connection_leak"),
    (("cpu",), "cpu_hog"),
    (("memory", "mem_hog", "oom"), "memory_hog"),
    (("latency", "delay"), "network_latency"),  # not "slow": slowed consumers are no network
    (("loss", "packet"), "network_loss"),
    (("partition", "blackhole"), "network_partition"),
    (("kill", "terminate", "crash", "stop_process"), "process_kill"),
    (("spike", "load", "traffic", "burst", "flood"), "load_spike"),
)
_DB_WORDS = ("db", "database", "sql", "postgres", "mysql", "query", "queries")
_TARGET_KEYS = ("target", "service", "host", "database", "db", "pod", "container", "endpoint")
_PROCESS_KEYS = ("process", "worker", "pid", "process_name")
_VALUE_KEYS = (
    ("latency_ms", "ms"), ("delay_ms", "ms"), ("latency", "ms"), ("delay", "ms"), ("ms", "ms"),
    ("percent", "percent"), ("cpu_percent", "percent"), ("load", "percent"), ("loss", "percent"),
    ("rate", "per_s"), ("rps", "per_s"), ("users", "users"), ("connections", "connections"),
    ("count", None), ("value", None),
)  # fmt: skip
_DURATION_KEYS = ("duration", "duration_s", "duration_seconds", "seconds", "for_s")


def parse(data: bytes | str | Any, *, now_ns: int = 0) -> list[ParsedTestRun]:
    """A journal, a list of journals, or a run notification carrying one."""
    del now_ns  # journals carry their own times
    doc = load_json(data)
    if isinstance(doc, dict) and "payload" in doc and "experiment" not in doc:
        journal = journal_from_notification(doc)
        return [] if journal is None else [run_from_journal(journal, at="/payload")]
    if isinstance(doc, list):
        return [run for _, run in each_record(doc, run_from_journal, batch=True)]
    return [run_from_journal(doc)]


def journal_from_notification(event: JSON) -> JSON | None:
    """The journal inside an HTTP notification, or None (run-started carries the experiment)."""
    payload = event.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("experiment"), dict):
        return None
    return (
        payload if "start" in payload and ("run" in payload or "steady_states" in payload) else None
    )


def run_from_journal(journal: Any, *, at: str = "") -> ParsedTestRun:
    try:
        doc = journal_doc(expect_object(journal, ""))
    except IngestError as exc:
        raise exc.at(at) from None
    return validate_test_run(doc, at=at)


def journal_doc(journal: JSON) -> JSON:
    """The native test-run document for one journal."""
    errors: list[IngestError] = []  # every missing or bad field is named, not only the first
    found = checked(errors, expect_object, journal.get("experiment"), "/experiment")
    experiment = found or {}
    title = experiment.get("title")
    if found is not None and (not isinstance(title, str) or not title):
        errors.append(IngestError("is required", pointer="/experiment/title"))
    start_ns = checked(errors, _time, journal.get("start"), "/start") or 0
    end = checked(errors, _time, journal["end"], "/end") if journal.get("end") else start_ns
    if errors or end is None:
        raise IngestError.combine(errors)
    end_ns = end
    title = str(title)
    configuration = experiment.get("configuration")
    configuration = configuration if isinstance(configuration, dict) else {}
    tags = [t for t in experiment.get("tags") or [] if isinstance(t, str)]
    runs = expect_array(journal.get("run", []), "/run") if journal.get("run") is not None else []
    actual, details, failure_ns, detected_ns = _outcome(journal, end_ns)
    return {
        "test_id": f"{_slug(title)}-{rfc3339_ns(start_ns)[:19].replace('-', '').replace(':', '')}Z",
        "timestamp": rfc3339_ns(start_ns),
        "parameters": {k: v for k, v in configuration.items() if _is_scalar(v)},
        "injected_faults": [
            _fault(run, f"/run/{i}")
            for i, run in enumerate(runs)
            if _activity_type(run) == "action"
        ],
        "expected_outcome": EXPECTED,
        "actual_outcome": actual,
        "failure_details": details,
        "failure_time": rfc3339_ns(failure_ns) if failure_ns else None,
        "failure_detected_at": rfc3339_ns(detected_ns) if detected_ns else None,
        "environment": labelled(configuration, tags, ("environment", "env")),
        "service": labelled(configuration, tags, ("service",)),
        "source_format": "chaostoolkit",
        "title": title,
        "tags": tags,
        "status": journal.get("status"),
        "deviated": bool(journal.get("deviated")),
        "duration_s": journal.get("duration"),
        "rollbacks": [_rollback(run) for run in journal.get("rollbacks") or []],
    }


def _time(value: Any, at: str) -> int:
    if not isinstance(value, str):
        raise IngestError("is required and must be an ISO 8601 date-time", pointer=at)
    try:
        return rfc3339_to_ns(value)
    except ValueError as exc:
        raise IngestError(f"invalid date-time {value[:64]!r}: {exc}", pointer=at) from exc


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:200] or "experiment"


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def labelled(configuration: JSON, tags: list[str], keys: tuple[str, ...]) -> str | None:
    """A label from the configuration, or from a `key:value` / `key=value` tag."""
    for key in keys:
        if isinstance(configuration.get(key), str):
            return str(configuration[key])
        for tag in tags:
            name, sep, value = tag.replace("=", ":").partition(":")
            if sep and name.strip().lower() == key and value.strip():
                return value.strip()
    return None


def _activity(run: Any) -> JSON:
    activity = run.get("activity") if isinstance(run, dict) else None
    return activity if isinstance(activity, dict) else {}


def _activity_type(run: Any) -> str:
    return str(_activity(run).get("type") or "")


def _provider(activity: JSON) -> JSON:
    provider = activity.get("provider")
    return provider if isinstance(provider, dict) else {}


def fault_type(name: str, provider: JSON) -> str:
    """The fault type an action injects, read from its name and provider (see module doc)."""
    words = " ".join(str(provider.get(k) or "") for k in ("module", "func", "path", "url")).lower()
    text = f"{name.lower()} {words}".replace("-", "_")
    for keywords, kind in _FAULT_RULES:
        if any(k in text for k in keywords):
            if kind == "network_latency" and any(
                re.search(rf"(^|[^a-z]){w}([^a-z]|$)", text) for w in _DB_WORDS
            ):
                return "db_latency"
            return kind
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "unknown"


def _fault(run: Any, at: str) -> JSON:
    activity = _activity(run)
    provider = _provider(activity)
    arguments = provider.get("arguments")
    arguments = arguments if isinstance(arguments, dict) else {}
    name = str(activity.get("name") or provider.get("func") or "action")
    fault: JSON = {"type": fault_type(name, provider), "name": name}
    target = next((arguments[k] for k in _TARGET_KEYS if _is_scalar(arguments.get(k))), None)
    process = next((arguments[k] for k in _PROCESS_KEYS if _is_scalar(arguments.get(k))), None)
    if target is not None:
        fault["target"] = str(target)
    if process is not None:
        fault["process"] = str(process)
    for key, unit in _VALUE_KEYS:
        value = arguments.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            fault["value"] = value
            if unit:
                fault["unit"] = unit
            break
    duration = next((arguments[k] for k in _DURATION_KEYS if _is_number(arguments.get(k))), None)
    if duration is not None:
        fault["duration"] = duration
    if isinstance(run, dict) and run.get("start"):
        fault["start"] = rfc3339_ns(_time(run["start"], f"{at}/start"))
    if isinstance(run, dict) and run.get("status"):
        fault["status"] = run["status"]
    return fault


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _outcome(journal: JSON, end_ns: int) -> tuple[str, str | None, int | None, int | None]:
    """(actual outcome, failure details, failure time, when the test noticed) from the
    hypotheses and the status (module doc: only a system failing before the method has a
    failure time)."""
    states = journal.get("steady_states")
    states = states if isinstance(states, dict) else {}
    before, after = states.get("before"), states.get("after")
    status = journal.get("status") or "completed"
    if isinstance(before, dict) and before.get("steady_state_met") is False:
        failing = _failing_probes(before)
        noticed = _last_end(before) or end_ns
        return "steady state not met before the method", failing, noticed, noticed
    if journal.get("deviated") or (
        isinstance(after, dict) and after.get("steady_state_met") is False
    ):
        failing = _failing_probes(after) if isinstance(after, dict) else None
        ended = _last_end(after) if isinstance(after, dict) else None
        return "steady state deviated", failing, None, ended or end_ns
    if status in ("failed", "aborted", "interrupted"):
        return f"run {status}", _method_errors(journal), None, end_ns
    return EXPECTED, None, None, None


def _probe_runs(state: JSON) -> list[JSON]:
    probes = state.get("probes")
    return [p for p in probes if isinstance(p, dict)] if isinstance(probes, list) else []


def _failing_probes(state: JSON) -> str | None:
    failing = [
        f"probe {_activity(p).get('name', '?')} failed its tolerance ({_probe_output(p)})"
        for p in _probe_runs(state)
        if p.get("tolerance_met") is False or p.get("status") == "failed"
    ]
    return "; ".join(failing) or None


def _probe_output(probe: JSON) -> str:
    """What a failing probe saw, briefly: an HTTP probe's status and body, not its headers."""
    output = probe.get("output")
    if isinstance(output, dict) and "status" in output:
        body = output.get("body")
        text = body if isinstance(body, str) else json_text(body) if body is not None else ""
        return f"status {output['status']}: {' '.join(text.split())[:160]}".rstrip(": ")
    return f"output: {' '.join(str(output).split())[:200]}"


def _last_end(state: JSON) -> int | None:
    ends = [
        _time(p["end"], "/steady_states")
        for p in _probe_runs(state)
        if isinstance(p.get("end"), str)
    ]
    return max(ends) if ends else None


def _method_errors(journal: JSON) -> str | None:
    errors = []
    for run in journal.get("run") or []:
        if isinstance(run, dict) and run.get("status") == "failed":
            exception = run.get("exception") or ["failed"]
            last = str(exception[-1]).strip() if isinstance(exception, list) else str(exception)
            errors.append(f"{_activity(run).get('name', '?')}: {last}")
    return "; ".join(errors) or None


def _rollback(run: Any) -> JSON:
    activity = _activity(run)
    provider = _provider(activity)
    rollback: JSON = {"name": activity.get("name") or provider.get("func") or "rollback"}
    for key in ("module", "func", "path", "url"):
        if provider.get(key):
            rollback[key] = provider[key]
    if isinstance(run, dict) and run.get("status"):
        rollback["status"] = run["status"]
    return rollback
