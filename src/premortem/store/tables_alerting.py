"""Tables of the alerting feature (migration 0003_alerting).

An alert row is one firing episode; `doc` holds its content (mode, lead time, mitigations,
evidence). Deliveries log one row per (batch, route, alert); a batch that could not be delivered
also leaves one dead-letter row with the payload it would have carried.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text

from premortem.store.tables import Id, Json, Ns, metadata

alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("fingerprint", Id, nullable=False),
    Column("mode_id", Id, nullable=False),
    Column("service", String(256), nullable=False, default=""),
    Column("state", String(16), nullable=False),
    Column("acknowledged", Boolean, nullable=False, default=False),
    Column("notified", Boolean, nullable=False, default=False),
    Column("probability", Float, nullable=False),
    Column("horizon_s", Float, nullable=False),
    Column("labels", Json, nullable=False),
    Column("doc", Json, nullable=False),
    Column("started_ns", Ns, nullable=False),
    Column("updated_ns", Ns, nullable=False),
    Column("last_seen_ns", Ns, nullable=False),
    Column("resolved_ns", Ns),
    Index("ix_alerts_state", "state"),
    Index("ix_alerts_fingerprint", "fingerprint"),
    Index("ix_alerts_started", "started_ns"),
    Index("ix_alerts_mode_started", "mode_id", "started_ns"),
    Index("ix_alerts_service_started", "service", "started_ns"),
)

alert_silences = Table(
    "alert_silences",
    metadata,
    Column("id", Id, primary_key=True),
    Column("matchers", Json, nullable=False),
    Column("starts_ns", Ns, nullable=False),
    Column("ends_ns", Ns, nullable=False),
    Column("created_by", String(256), nullable=False, default=""),
    Column("comment", Text, nullable=False, default=""),
    Index("ix_alert_silences_ends", "ends_ns"),
)

alert_feedback = Table(
    "alert_feedback",
    metadata,
    Column("id", Id, primary_key=True),
    Column("alert_id", Id, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("time_ns", Ns, nullable=False),
    Index("ix_alert_feedback_alert", "alert_id"),
)

alert_notifications = Table(
    "alert_notifications",
    metadata,
    Column("batch_id", Id, primary_key=True),
    Column("route", String(128), primary_key=True),
    Column("alert_id", Id, primary_key=True),
    Column("event", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("time_ns", Ns, nullable=False),
    Column("error", Text, nullable=False, default=""),
    Index("ix_alert_notifications_alert", "alert_id"),
)

alert_dead_letters = Table(
    "alert_dead_letters",
    metadata,
    Column("batch_id", Id, primary_key=True),
    Column("route", String(128), primary_key=True),
    Column("event", String(16), nullable=False),
    Column("alert_ids", Json, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("time_ns", Ns, nullable=False),
    Column("error", Text, nullable=False, default=""),
    Column("payload", Json, nullable=False),
)
