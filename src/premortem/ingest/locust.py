"""Locust CSV results (`--csv=PREFIX`, formats.md §8) as native test runs.

Input: the text of `PREFIX_stats.csv`, optionally with `PREFIX_failures.csv`; or a JSON object
`{"stats": "<csv>", "failures": "<csv>", "test_id", "timestamp", "service", "environment", ...}`
so both files and the labels travel in one request body, with any of the native run's own fields
(`injected_faults`, `ended_at`, `duration_s`, `failure_time`, `services`, `parameters`): CSV files
cannot say which fault a run injected, or when. An unknown key is an error, never dropped.

What the `Aggregated` row measured (request counts and rates, response times) goes to `results`:
it is what the run *did*, much of it the fault's doing, never a load condition (a trial's lock mode
learned "failed_requests >= 66" as a cause, a parent the live stream never shows, and never
alerted). `parameters` is the load the run was given, when the labels say (`{"users": 6}`). The
run failed when any request failed (expected "no failed requests").
Errors point at CSV cells as `/stats/<row>/<column>`.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from premortem.domain import JSON, rfc3339_ns, stable_id
from premortem.errors import IngestError
from premortem.ingest.fields import load_json, optional_str, timestamp_ns
from premortem.ingest.native import NATIVE_RUN_FIELDS, ParsedTestRun, validate_test_run

EXPECTED = "no failed requests"
# Keys of the JSON wrapper: the two files, labels, and the native run's own fields.
_LABELS = ("stats", "failures", "test_id", "timestamp", "service", "environment", "parameters")
_WRAPPER_KEYS = frozenset((*_LABELS, *NATIVE_RUN_FIELDS))
_REQUIRED = ("Name", "Request Count", "Failure Count")
# result -> stats column
_COLUMNS = {
    "requests_per_s": "Requests/s",
    "failures_per_s": "Failures/s",
    "response_time_median_ms": "Median Response Time",
    "response_time_avg_ms": "Average Response Time",
    "response_time_max_ms": "Max Response Time",
    "response_time_p95_ms": "95%",
    "response_time_p99_ms": "99%",
}


def parse(
    data: bytes | str | Any, *, now_ns: int, failures: bytes | str | None = None
) -> list[ParsedTestRun]:
    labels: JSON = {}
    if isinstance(data, dict) or (_text(data).lstrip()[:1] == "{"):
        labels = load_json(data)
        unknown = sorted(set(labels) - _WRAPPER_KEYS)
        if unknown:
            raise IngestError(
                f"unknown key {unknown[0]!r}; the wrapper takes {', '.join(sorted(_WRAPPER_KEYS))}",
                pointer=f"/{unknown[0]}",
            )
        stats = optional_str(labels, "stats", "")
        if not stats:
            raise IngestError("is required (the text of PREFIX_stats.csv)", pointer="/stats")
        if not labels.get("timestamp"):
            # A raw CSV posted as the run ends is stamped on arrival; a wrapper that says when
            # the run ended but not when it started was refused over `ended_at` with no pointer,
            # and one that said neither was stored 20 minutes after its own fault (a trial).
            raise IngestError(
                "is required: when the run started (a CSV cannot say; stamped on arrival, the "
                "run would begin after its own logs and fault)",
                pointer="/timestamp",
            )
        failures = optional_str(labels, "failures", "")
        data = stats
    failures_text = _text(failures) if failures else None
    return [validate_test_run(stats_doc(_text(data), failures_text, labels, now_ns))]


def _text(data: Any) -> str:
    if isinstance(data, bytes | bytearray):
        try:
            return bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise IngestError(f"CSV is not UTF-8: {exc}") from exc
    if isinstance(data, str):
        return data
    raise IngestError(f"must be CSV text, got {type(data).__name__}")


def _rows(text: str, where: str, required: tuple[str, ...]) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise IngestError(f"CSV header lacks column(s) {', '.join(missing)}", pointer=f"/{where}/0")
    return list(reader)


def _number(row: dict[str, str], column: str, at: str) -> float | None:
    raw = (row.get(column) or "").strip()
    if raw in ("", "N/A"):
        return None
    try:
        return float(raw)
    except ValueError:
        raise IngestError(f"must be a number, got {raw[:32]!r}", pointer=f"{at}/{column}") from None


def stats_doc(stats: str, failures: str | None, labels: JSON, now_ns: int) -> JSON:
    rows = _rows(stats, "stats", _REQUIRED)
    index, total = next(
        ((i, r) for i, r in enumerate(rows) if r.get("Name") == "Aggregated"), (-1, None)
    )
    if total is None:
        raise IngestError("no 'Aggregated' row in the stats CSV", pointer="/stats")
    at = f"/stats/{index + 1}"
    requests = int(_number(total, "Request Count", at) or 0)
    failed = int(_number(total, "Failure Count", at) or 0)
    results: JSON = {"requests": requests, "failed_requests": failed}
    for name, column in _COLUMNS.items():
        value = _number(total, column, at)
        if value is not None:
            results[name] = int(value) if value.is_integer() else round(value, 3)
    share = f" ({failed / requests:.1%})" if requests else ""
    raw_time = labels.get("timestamp")
    native = {key: labels[key] for key in NATIVE_RUN_FIELDS if labels.get(key) is not None}
    return {
        "test_id": labels.get("test_id") or "locust-" + stable_id("locust", stats)[:16],
        "timestamp": rfc3339_ns(timestamp_ns(raw_time, "/timestamp") if raw_time else now_ns),
        "parameters": labels.get("parameters") or {},
        "results": results,
        "injected_faults": [],
        **native,
        "expected_outcome": EXPECTED,
        "actual_outcome": f"{failed} of {requests} requests failed{share}" if failed else EXPECTED,
        "failure_details": _failure_details(failures) if failures else None,
        "environment": labels.get("environment"),
        "service": labels.get("service"),
        "source_format": "locust",
        "endpoints": [
            {"method": r.get("Type") or "", "name": r["Name"], "requests": r["Request Count"],
             "failures": r["Failure Count"]}
            for r in rows if r.get("Name") != "Aggregated"
        ],
    }  # fmt: skip


def _failure_details(text: str) -> str | None:
    rows = _rows(text, "failures", ("Method", "Name", "Error", "Occurrences"))
    parts = [f"{r['Method']} {r['Name']}: {r['Error']} x{r['Occurrences']}" for r in rows]
    return "; ".join(parts) or None
