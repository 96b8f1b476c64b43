"""The relational schema (SQLAlchemy Core). Alembic migrations under store/migrations follow it.

Every time is integer nanoseconds since the epoch (UTC): it sorts and compares identically on SQLite
and PostgreSQL, and avoids SQLite's habit of dropping time zones. Whole documents (a test run as it
was sent, a simulation with its series, a failure mode) live in JSON columns next to the indexed
columns the queries filter on.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

Json = JSON().with_variant(JSONB(), "postgresql")
Id = String(64)
RunId = String(256)  # a test run's or simulation's own id (`test_id` may be 256 characters)
Ns = BigInteger()

test_runs = Table(
    "test_runs",
    metadata,
    Column("id", RunId, primary_key=True),
    Column("time_ns", Ns, nullable=False),
    Column("service", String(256), nullable=False, default=""),
    Column("environment", String(256), nullable=False, default=""),
    Column("outcome", String(8), nullable=False),
    Column("failure_time_ns", Ns),
    Column("received_ns", Ns, nullable=False),
    Column("doc", Json, nullable=False),
    Index("ix_test_runs_service_time", "service", "time_ns"),
    Index("ix_test_runs_outcome_time", "outcome", "time_ns"),
)

test_run_faults = Table(
    "test_run_faults",
    metadata,
    Column("run_id", RunId, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("fault_type", String(256), nullable=False),
    Index("ix_test_run_faults_type", "fault_type", "run_id"),
)

simulations = Table(
    "simulations",
    metadata,
    Column("id", RunId, primary_key=True),
    Column("model", String(256), nullable=False),
    Column("service", String(256), nullable=False, default=""),
    Column("source", String(32), nullable=False),
    Column("started_ns", Ns, nullable=False),
    Column("received_ns", Ns, nullable=False),
    Column("doc", Json, nullable=False),
    Index("ix_simulations_service_started", "service", "started_ns"),
)

logs = Table(
    "logs",
    metadata,
    Column("id", String(64), primary_key=True),  # derived ids are 32; a sender's up to 64
    Column("time_ns", Ns, nullable=False),
    Column("observed_ns", Ns, nullable=False),
    Column("service", String(256), nullable=False),
    Column("severity_number", Integer, nullable=False),
    Column("severity_text", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("attributes", Json),
    Column("resource", Json),
    Column("trace_id", String(32)),
    Column("span_id", String(16)),
    Column("template_id", Integer),
    Index("ix_logs_service_time", "service", "time_ns"),
    Index("ix_logs_time", "time_ns"),
    Index("ix_logs_template_time", "template_id", "time_ns"),
)

events = Table(
    "events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("time_ns", Ns, nullable=False),
    Column("type", String(256), nullable=False),
    Column("source", String(512), nullable=False),
    Column("subject", String(512), nullable=False, default=""),
    Column("service", String(256), nullable=False, default=""),
    Column("attributes", Json),
    Column("data", Json),
    # The producer's own id (CloudEvents `id`, Kubernetes uid); with `source`, how it finds one.
    Column("external_id", String(512), nullable=False, server_default=""),
    Index("ix_events_service_time", "service", "time_ns"),
    Index("ix_events_time", "time_ns"),
    Index("ix_events_type_time", "type", "time_ns"),
    Index("ix_events_source_external_id", "source", "external_id"),
)

templates = Table(
    "templates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("service", String(256), nullable=False),
    Column("template", Text, nullable=False),
    Column("count", BigInteger, nullable=False, default=0),
    Column("first_seen_ns", Ns, nullable=False),
    Column("last_seen_ns", Ns, nullable=False),
    Column("samples", Json),
    Column("parameters", Json),
    Column("evicted", Boolean, nullable=False, default=False),
    Index("ix_templates_service", "service"),
)

miner_state = Table(
    "miner_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("state", LargeBinary, nullable=False),
    Column("saved_ns", Ns, nullable=False),
)

anomalies = Table(
    "anomalies",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("time_ns", Ns, nullable=False),
    Column("service", String(256), nullable=False),
    Column("detector", String(64), nullable=False),
    Column("score", Float, nullable=False),
    Column("template_id", Integer),
    Column("summary", Text, nullable=False, default=""),
    Column("evidence", Json),
    Index("ix_anomalies_service_time", "service", "time_ns"),
    Index("ix_anomalies_time", "time_ns"),
)

failure_modes = Table(
    "failure_modes",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(512), nullable=False),
    Column("service", String(256), nullable=False, default=""),
    Column("source", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_ns", Ns, nullable=False),
    Column("doc", Json, nullable=False),
)

failure_mode_versions = Table(
    "failure_mode_versions",
    metadata,
    Column("mode_id", Id, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("changed_ns", Ns, nullable=False),
    Column("change", String(256), nullable=False, default=""),
    Column("doc", Json, nullable=False),
)

predictions = Table(
    "predictions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("time_ns", Ns, nullable=False),
    Column("mode_id", Id, nullable=False),
    Column("service", String(256), nullable=False, default=""),
    Column("probability", Float, nullable=False),
    Column("horizon_s", Float, nullable=False),
    Column("lead_time_s", Float),
    Column("evidence", Json),
    Index("ix_predictions_time", "time_ns"),
    Index("ix_predictions_mode_time", "mode_id", "time_ns"),
)

models = Table(
    "models",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("created_ns", Ns, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("blob", LargeBinary, nullable=False),
    Column("summary", Json),
)
