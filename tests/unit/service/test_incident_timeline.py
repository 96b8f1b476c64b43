"""Issue 15: an alert's evidence is this incident in time order — the lines that fired it (by
record id), the alert, the failure after it — never lines of other runs or days."""

from __future__ import annotations

from pathlib import Path

from premortem.alerting.model import Alert, AlertState
from premortem.config import Settings
from premortem.domain import Event, LogRecord
from premortem.runtime.assembly import build_runtime
from premortem.service.ui.alerts import incident_timeline

NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def _line(seconds: int, body: str, service: str = "shop") -> LogRecord:
    return LogRecord(time_ns=T0 + seconds * NS, service=service, body=body, severity_text="WARN")


def _alert(*, doc: dict[str, object], resolved_ns: int | None = None) -> Alert:
    """Mode fm-1's alert on "shop", raised at +12 s (resolved when `resolved_ns` is given)."""
    last = resolved_ns or T0 + 12 * NS
    return Alert(
        id="al-1",
        fingerprint="fp",
        labels={"mode_id": "fm-1", "service": "shop"},
        state=AlertState.RESOLVED if resolved_ns else AlertState.FIRING,
        probability=0.9,
        started_ns=T0 + 12 * NS,
        updated_ns=last,
        last_seen_ns=last,
        resolved_ns=resolved_ns,
        horizon_s=300,
        doc=doc,
    )


def test_timeline_is_the_fired_lines_the_alert_and_the_failure_in_time_order(
    tmp_path: Path,
) -> None:
    runtime = build_runtime(Settings(database_url=f"sqlite:///{tmp_path / 't.db'}"))
    fired = [_line(10, "pool low: 1 of 5 idle"), _line(4, "leak suspected: #1 for 3.4 s")]
    unrelated = [_line(-86_400, "leak suspected: #2 for 3.1 s"), _line(8, "GET / 200")]
    runtime.pipeline.ingest_logs(sorted(fired + unrelated, key=lambda r: r.time_ns))
    runtime.pipeline.catalog.flush()
    runtime.pipeline.store.add_events(
        [
            Event(
                time_ns=T0 + 30 * NS,
                type="incident.opened",
                source="pager",
                subject="pool",
                service="shop",
            ),
            # Seen live in the lines of another service than the mode's (a trial's mode was
            # "ticketing", its failure logged by "ticket-api"): it names the alert's mode.
            Event(
                time_ns=T0 + 31 * NS,
                type="premortem.failure.observed",
                source="premortem",
                subject="shop: pool exhausted",
                service="shop-api",
                attributes={"mode_id": "fm-1", "mode_ids": ["fm-1"]},
            ),
            # Another mode's failure of another service: not this incident's.
            Event(
                time_ns=T0 + 32 * NS,
                type="premortem.failure.observed",
                source="premortem",
                subject="search: disk full",
                service="search-api",
                attributes={"mode_id": "fm-2", "mode_ids": ["fm-2"]},
            ),
        ]
    )
    alert = _alert(
        doc={
            "evidence": {
                # The model's own template ids: one may be another template's in the catalogue.
                "templates": [
                    {"template_id": r.template_id, "template": "model template"}
                    for r in fired + unrelated
                    if r.template_id is not None
                ],
                "other": {"record_ids": [r.id for r in fired]},
            }
        },
    )
    timeline = incident_timeline(runtime, alert)
    assert [(e["kind"], (e["time_ns"] - T0) // NS) for e in timeline] == [
        ("precursor", 4),
        ("precursor", 10),
        ("alert", 12),
        ("failure", 30),
        ("failure", 31),
    ]
    assert timeline[0]["lines"] == [(T0 + 4 * NS, "leak suspected: #1 for 3.4 s")]
    # named by the catalogue's template (the live predictor cites templates by text only)
    assert "leak suspected" in timeline[0]["what"] and "pool low" in timeline[1]["what"]
    assert "incident.opened" in timeline[-2]["what"]
    assert "pool exhausted" in timeline[-1]["what"]


def test_another_mode_s_failure_after_the_alert_resolved_is_not_this_incident(
    tmp_path: Path,
) -> None:
    """A trial's alert page listed failures of the service's other modes minutes after the
    alert had resolved; its own mode's failure within the horizon still belongs to it."""
    runtime = build_runtime(Settings(database_url=f"sqlite:///{tmp_path / 't.db'}"))

    def failure(seconds: int, mode_id: str | None) -> Event:
        named = {"mode_id": mode_id, "mode_ids": [mode_id]} if mode_id else {}
        return Event(
            time_ns=T0 + seconds * NS,
            type="premortem.failure.observed" if mode_id else "incident.opened",
            source="premortem",
            subject=f"failure {seconds}",
            service="shop",
            attributes=named,
        )

    runtime.pipeline.store.add_events(
        [failure(30, None), failure(40, "fm-2"), failure(200, "fm-1"), failure(240, "fm-2")]
    )
    alert = _alert(doc={"evidence": {}}, resolved_ns=T0 + 40 * NS)
    timeline = incident_timeline(runtime, alert)
    assert [(e["kind"], (e["time_ns"] - T0) // NS) for e in timeline] == [
        ("alert", 12),
        ("failure", 30),
        ("failure", 40),
        ("resolved", 40),
        ("failure", 200),
    ]
