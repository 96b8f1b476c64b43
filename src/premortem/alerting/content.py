"""What an alert says: the failure mode, probability, expected lead time, mitigations and evidence.

Content is built raw (log lines exactly as they were written) and escaped only when rendered:
`render_text` for plain-text channels (Alertmanager annotations, chat), `render_html` for pages.
Log lines are attacker-controlled text; never put them into a text or HTML channel unescaped.

Prediction evidence keys understood here (all optional; see docs/alerting.md):
``templates`` [{template_id, template, samples: [str], count}], ``record_ids`` [str] (the live
lines that fired, kept under ``other``), ``events`` [{time_ns|time, type,
subject, service}], ``test_runs`` [id | {id, ...}], ``simulations`` [id | {id, ...}],
``environment`` str. Anything else is kept under ``other``.
"""

from __future__ import annotations

import html
import re
import statistics
from collections.abc import Mapping
from typing import Any

from premortem.domain import JSON, FailureMode, Prediction

MAX_TEMPLATES = 10
MAX_SAMPLES = 3
MAX_ITEMS = 20
MAX_LINE_CHARS = 500
_KNOWN_KEYS = {"templates", "events", "test_runs", "simulations", "environment"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def lead_time_summary(mode: FailureMode | None, prediction: Prediction) -> JSON | None:
    """Median and range of the lead times the prediction quotes (`evidence.lead_times_s`: how
    long before the failure the mode's alerts came in training), else of those the precursors
    that fired were seen with (`FailureMode.expected_lead_times_s`), in seconds."""
    quoted = prediction.evidence.get("lead_times_s")
    samples = (
        [float(x) for x in quoted]
        if isinstance(quoted, list) and quoted
        else (mode.expected_lead_times_s(prediction.fired_template_ids) if mode else [])
    )
    if not samples and prediction.lead_time_s is not None:
        samples = [prediction.lead_time_s]
    if not samples:
        return None
    return {
        "median_s": float(statistics.median(samples)),
        "min_s": float(min(samples)),
        "max_s": float(max(samples)),
        "observations": len(samples),
    }


def build_content(
    prediction: Prediction, mode: FailureMode | None, *, severity: str, dashboard_url: str
) -> JSON:
    """The alert document (the `doc` of an Alert), raw."""
    return {
        "mode": {
            "id": prediction.mode_id,
            "name": mode.name if mode else prediction.mode_id,
            "severity": severity,
            "description": mode.description if mode else "",
        },
        "prediction": {
            "id": prediction.id,
            "time_ns": prediction.time_ns,
            "horizon_s": prediction.horizon_s,
            "lead_time_s": prediction.lead_time_s,
        },
        "lead_time": lead_time_summary(mode, prediction),
        "mitigations": [
            {"action": m.action, "runbook_url": m.runbook_url}
            for m in (mode.mitigations if mode else [])
        ],
        "evidence": evidence_bundle(prediction.evidence, mode),
        "dashboard_url": dashboard_url,
    }


def evidence_bundle(evidence: Mapping[str, Any], mode: FailureMode | None) -> JSON:
    """`templates` are this incident's live precursors; `training_excerpts` the lines of the
    chaos runs the mode was learned from, kept apart (their template ids are the training
    miner's, and their lines are from other days)."""
    templates = [_template(t) for t in _as_list(evidence.get("templates"))[:MAX_TEMPLATES]]
    excerpts = [_excerpt(x) for x in (mode.evidence.log_excerpts if mode else [])[:MAX_TEMPLATES]]
    test_runs = _ids(evidence.get("test_runs")) + (mode.evidence.test_runs if mode else [])
    simulations = _ids(evidence.get("simulations")) + (
        mode.evidence.simulation_runs if mode else []
    )
    return {
        "templates": templates,
        "training_excerpts": excerpts,
        "events": [e for e in _as_list(evidence.get("events")) if isinstance(e, dict)][:MAX_ITEMS],
        "test_runs": list(dict.fromkeys(test_runs))[:MAX_ITEMS],
        "simulations": list(dict.fromkeys(simulations))[:MAX_ITEMS],
        "other": {k: v for k, v in evidence.items() if k not in _KNOWN_KEYS},
    }


def template_keys(doc: Mapping[str, Any]) -> set[str]:
    """The precursor templates an alert cites; a new one is a material change."""
    templates = doc.get("evidence", {}).get("templates", [])
    return {str(t.get("template_id") or t.get("template")) for t in templates}


def _template(raw: Any) -> JSON:
    if not isinstance(raw, dict):
        return {"template_id": None, "template": str(raw), "samples": [], "count": None}
    samples = [str(s)[:MAX_LINE_CHARS] for s in _as_list(raw.get("samples"))[:MAX_SAMPLES]]
    return {
        "template_id": raw.get("template_id", raw.get("id")),
        "template": str(raw.get("template", ""))[:MAX_LINE_CHARS],
        "samples": samples,
        "count": raw.get("count"),
    }


def _excerpt(raw: Mapping[str, Any]) -> JSON:
    line = raw.get("line") or raw.get("body") or raw.get("template") or ""
    return {
        "test_run": str(raw.get("test_run") or ""),
        "service": str(raw.get("service") or ""),
        "line": str(line)[:MAX_LINE_CHARS],
    }


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _ids(value: Any) -> list[str]:
    return [str(v.get("id", "")) if isinstance(v, dict) else str(v) for v in _as_list(value)]


# --------------------------------------------------------------------------- rendering


def escape_text(value: str, *, limit: int = MAX_LINE_CHARS) -> str:
    """One safe line: control characters (newlines, ANSI escapes) shown as \\xNN, length capped."""
    escaped = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"


def format_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def lead_time_text(lead: Mapping[str, Any] | None) -> str:
    if not lead:
        return "unknown"
    median = format_duration(lead["median_s"])
    if lead["min_s"] == lead["max_s"]:
        return median
    return f"{median} (range {format_duration(lead['min_s'])}-{format_duration(lead['max_s'])})"


def alert_annotations(
    doc: Mapping[str, Any], *, probability: float, service: str
) -> dict[str, str]:
    """Alertmanager-style annotations: short, plain text, escaped."""
    mode = doc["mode"]
    where = f" on {service}" if service else ""
    precursors = [t["template"] for t in doc["evidence"]["templates"][:3]]
    return {
        "summary": escape_text(
            f"{mode['name']} likely{where} within {lead_time_text(doc['lead_time'])} "
            f"(p={probability:.2f})"
        ),
        "probability": f"{probability:.2f}",
        "lead_time": lead_time_text(doc["lead_time"]),
        "mitigation": escape_text("; ".join(m["action"] for m in doc["mitigations"]) or "none"),
        "precursors": escape_text(" | ".join(precursors) or "none", limit=1000),
        "dashboard": doc["dashboard_url"],
    }


def render_text(alert_json: Mapping[str, Any]) -> str:
    """A multi-line plain-text report of an alert (the API's `Alert.to_json()` shape)."""
    notes = alert_annotations(
        alert_json, probability=alert_json["probability"], service=alert_json["service"]
    )
    lines = [
        f"[{alert_json['state'].upper()}] {notes['summary']}",
        f"Mitigation: {notes['mitigation']}",
    ]
    for template in alert_json["evidence"]["templates"]:
        lines.append(f"Precursor: {escape_text(template['template'])}")
        lines += [f"  > {escape_text(s)}" for s in template["samples"]]
    lines.append(f"Dashboard: {notes['dashboard']}")
    return "\n".join(lines)


def render_html(alert_json: Mapping[str, Any]) -> str:
    """A small HTML fragment; every value from outside is escaped."""
    e = html.escape
    mode = alert_json["mode"]
    parts = [
        f"<h2>{e(mode['name'])} <small>{e(mode['severity'])}</small></h2>",
        f"<p>Probability {alert_json['probability']:.2f}, expected lead time "
        f"{e(lead_time_text(alert_json['lead_time']))}.</p>",
        "<ul>" + "".join(f"<li>{e(m['action'])}</li>" for m in alert_json["mitigations"]) + "</ul>",
    ]
    for template in alert_json["evidence"]["templates"]:
        samples = "".join(f"<pre>{e(s)}</pre>" for s in template["samples"])
        parts.append(f"<section><code>{e(template['template'])}</code>{samples}</section>")
    parts.append(f'<a href="{e(alert_json["dashboard_url"], quote=True)}">dashboard</a>')
    return "\n".join(parts)
