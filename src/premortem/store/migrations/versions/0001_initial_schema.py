"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 03:52:42.451090
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "anomalies",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("time_ns", sa.BigInteger(), nullable=False),
        sa.Column("service", sa.String(length=256), nullable=False),
        sa.Column("detector", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("anomalies", schema=None) as batch_op:
        batch_op.create_index("ix_anomalies_service_time", ["service", "time_ns"], unique=False)
        batch_op.create_index("ix_anomalies_time", ["time_ns"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("time_ns", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=256), nullable=False),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("service", sa.String(length=256), nullable=False),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_service_time", ["service", "time_ns"], unique=False)
        batch_op.create_index("ix_events_time", ["time_ns"], unique=False)
        batch_op.create_index("ix_events_type_time", ["type", "time_ns"], unique=False)

    op.create_table(
        "failure_mode_versions",
        sa.Column("mode_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_ns", sa.BigInteger(), nullable=False),
        sa.Column("change", sa.String(length=256), nullable=False),
        sa.Column(
            "doc",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("mode_id", "version"),
    )
    op.create_table(
        "failure_modes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("service", sa.String(length=256), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.Column(
            "doc",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "logs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("time_ns", sa.BigInteger(), nullable=False),
        sa.Column("observed_ns", sa.BigInteger(), nullable=False),
        sa.Column("service", sa.String(length=256), nullable=False),
        sa.Column("severity_number", sa.Integer(), nullable=False),
        sa.Column("severity_text", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "resource",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("span_id", sa.String(length=16), nullable=True),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("logs", schema=None) as batch_op:
        batch_op.create_index("ix_logs_service_time", ["service", "time_ns"], unique=False)
        batch_op.create_index("ix_logs_template_time", ["template_id", "time_ns"], unique=False)
        batch_op.create_index("ix_logs_time", ["time_ns"], unique=False)

    op.create_table(
        "miner_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("saved_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "models",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column(
            "summary",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("version"),
    )
    op.create_table(
        "predictions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("time_ns", sa.BigInteger(), nullable=False),
        sa.Column("mode_id", sa.String(length=64), nullable=False),
        sa.Column("service", sa.String(length=256), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("horizon_s", sa.Float(), nullable=False),
        sa.Column("lead_time_s", sa.Float(), nullable=True),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.create_index("ix_predictions_mode_time", ["mode_id", "time_ns"], unique=False)
        batch_op.create_index("ix_predictions_time", ["time_ns"], unique=False)

    op.create_table(
        "simulations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("service", sa.String(length=256), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("started_ns", sa.BigInteger(), nullable=False),
        sa.Column("received_ns", sa.BigInteger(), nullable=False),
        sa.Column(
            "doc",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("simulations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_simulations_service_started", ["service", "started_ns"], unique=False
        )

    op.create_table(
        "templates",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("service", sa.String(length=256), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column(
            "samples",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("evicted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.create_index("ix_templates_service", ["service"], unique=False)

    op.create_table(
        "test_run_faults",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("fault_type", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "position"),
    )
    with op.batch_alter_table("test_run_faults", schema=None) as batch_op:
        batch_op.create_index("ix_test_run_faults_type", ["fault_type", "run_id"], unique=False)

    op.create_table(
        "test_runs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("time_ns", sa.BigInteger(), nullable=False),
        sa.Column("service", sa.String(length=256), nullable=False),
        sa.Column("environment", sa.String(length=256), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("failure_time_ns", sa.BigInteger(), nullable=True),
        sa.Column("received_ns", sa.BigInteger(), nullable=False),
        sa.Column(
            "doc",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("test_runs", schema=None) as batch_op:
        batch_op.create_index("ix_test_runs_outcome_time", ["outcome", "time_ns"], unique=False)
        batch_op.create_index("ix_test_runs_service_time", ["service", "time_ns"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("test_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_test_runs_service_time")
        batch_op.drop_index("ix_test_runs_outcome_time")

    op.drop_table("test_runs")
    with op.batch_alter_table("test_run_faults", schema=None) as batch_op:
        batch_op.drop_index("ix_test_run_faults_type")

    op.drop_table("test_run_faults")
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.drop_index("ix_templates_service")

    op.drop_table("templates")
    with op.batch_alter_table("simulations", schema=None) as batch_op:
        batch_op.drop_index("ix_simulations_service_started")

    op.drop_table("simulations")
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index("ix_predictions_time")
        batch_op.drop_index("ix_predictions_mode_time")

    op.drop_table("predictions")
    op.drop_table("models")
    op.drop_table("miner_state")
    with op.batch_alter_table("logs", schema=None) as batch_op:
        batch_op.drop_index("ix_logs_time")
        batch_op.drop_index("ix_logs_template_time")
        batch_op.drop_index("ix_logs_service_time")

    op.drop_table("logs")
    op.drop_table("failure_modes")
    op.drop_table("failure_mode_versions")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_type_time")
        batch_op.drop_index("ix_events_time")
        batch_op.drop_index("ix_events_service_time")

    op.drop_table("events")
    with op.batch_alter_table("anomalies", schema=None) as batch_op:
        batch_op.drop_index("ix_anomalies_time")
        batch_op.drop_index("ix_anomalies_service_time")

    op.drop_table("anomalies")
