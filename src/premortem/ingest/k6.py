"""k6 end-of-test summaries (the `handleSummary(data)` object, formats.md §8) as native test runs.

The load the run was given is its parameter (`vus_max` → `concurrent_users`, and the run's
duration); what it measured (`http_reqs` count and rate, iterations, latency percentiles, error
rate) goes to `results` — the fault's doing, never a load condition the network would take for a
cause. The outcome is the thresholds': expected "all thresholds passed", actual lists the
thresholds that failed. Without thresholds, failed checks decide.

The summary carries no id or start time: a `setup_data` object (what the script's `setup()`
returned) may give `test_id`, `timestamp`, `service` and `environment`, and the native run's
`injected_faults`, `ended_at`, `duration_s`, `failure_time`, `services`; otherwise the id derives
from the content and the time is `now_ns`.
"""

from __future__ import annotations

from typing import Any

from premortem.domain import JSON, rfc3339_ns, stable_id
from premortem.ingest.fields import expect_object, load_json, optional_object, timestamp_ns
from premortem.ingest.native import NATIVE_RUN_FIELDS, ParsedTestRun, validate_test_run

EXPECTED = "all thresholds passed"
# parameter name -> (metric, values key): the load given
_PARAMETERS = {"concurrent_users": ("vus_max", "max")}
# result name -> (metric, values key): what the run measured
_RESULTS = {
    "request_rate": ("http_reqs", "rate"),
    "requests": ("http_reqs", "count"),
    "iterations": ("iterations", "count"),
    "http_req_duration_avg_ms": ("http_req_duration", "avg"),
    "http_req_duration_p95_ms": ("http_req_duration", "p(95)"),
    "http_req_duration_p99_ms": ("http_req_duration", "p(99)"),
    "error_rate": ("http_req_failed", "rate"),
}


def parse(data: bytes | str | Any, *, now_ns: int) -> list[ParsedTestRun]:
    summary = expect_object(load_json(data), "")
    return [validate_test_run(summary_doc(summary, now_ns=now_ns))]


def summary_doc(summary: JSON, *, now_ns: int) -> JSON:
    metrics = expect_object(summary.get("metrics"), "/metrics", what="an object of metrics")
    for name, metric in metrics.items():
        optional_object(expect_object(metric, f"/metrics/{name}"), "values", f"/metrics/{name}")
    setup = summary.get("setup_data") if isinstance(summary.get("setup_data"), dict) else {}
    setup = setup or {}
    state = summary.get("state") if isinstance(summary.get("state"), dict) else {}
    parameters = _values(metrics, _PARAMETERS)
    duration_ms = (state or {}).get("testRunDurationMs")
    if isinstance(duration_ms, int | float):
        parameters["duration_s"] = round(duration_ms / 1000, 3)
    failed_thresholds = _failed_thresholds(metrics)
    actual, details = _outcome(metrics, failed_thresholds)
    raw_time = setup.get("timestamp")
    time_ns = timestamp_ns(raw_time, "/setup_data/timestamp") if raw_time else now_ns
    test_id = setup.get("test_id")
    if not isinstance(test_id, str) or not test_id:
        test_id = "k6-" + stable_id("k6", summary)[:16]
    return {
        "test_id": test_id,
        "timestamp": rfc3339_ns(time_ns),
        "parameters": parameters,
        "results": _values(metrics, _RESULTS),
        "injected_faults": [],
        **{k: setup[k] for k in NATIVE_RUN_FIELDS if setup.get(k) is not None},
        "expected_outcome": EXPECTED,
        "actual_outcome": actual,
        "failure_details": details,
        "environment": _text(setup.get("environment")),
        "service": _text(setup.get("service")),
        "source_format": "k6",
        "thresholds": {
            f"{name}: {expr}": bool(result.get("ok"))
            for name, metric in metrics.items()
            for expr, result in (metric.get("thresholds") or {}).items()
            if isinstance(result, dict)
        },
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _values(metrics: JSON, wanted: dict[str, tuple[str, str]]) -> JSON:
    found: JSON = {}
    for name, (metric, key) in wanted.items():
        value = (metrics.get(metric) or {}).get("values", {}).get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            found[name] = round(value, 6) if isinstance(value, float) else value
    return found


def _failed_thresholds(metrics: JSON) -> list[str]:
    failed = []
    for name, metric in metrics.items():
        thresholds = optional_object(metric, "thresholds", f"/metrics/{name}")
        for expr, result in thresholds.items():
            if isinstance(result, dict) and result.get("ok") is False:
                failed.append(f"{name} {expr}")
    return failed


def _outcome(metrics: JSON, failed_thresholds: list[str]) -> tuple[str, str | None]:
    if failed_thresholds:
        details = "; ".join(
            f"{t} (observed {_observed(metrics, t.split(' ')[0])})" for t in failed_thresholds
        )
        return f"thresholds failed: {', '.join(failed_thresholds)}", details
    has_thresholds = any(m.get("thresholds") for m in metrics.values())
    checks = (metrics.get("checks") or {}).get("values") or {}
    if not has_thresholds and isinstance(checks.get("fails"), int) and checks["fails"] > 0:
        return (
            "checks failed",
            f"{checks['fails']} of {checks['fails'] + checks.get('passes', 0)} checks failed",
        )
    return EXPECTED, None


def _observed(metrics: JSON, name: str) -> str:
    values = (metrics.get(name) or {}).get("values") or {}
    return ", ".join(f"{k}={v}" for k, v in values.items())
