"""alerting: alerts, silences, feedback, notification log, dead letters

Revision ID: 0003_alerting
Revises: 0001
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import premortem.store.tables_alerting  # noqa: F401  (registers the tables on the metadata)

revision: str = "0003_alerting"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("mode_id", sa.String(length=64), nullable=False),
        sa.Column("service", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("acknowledged", sa.Boolean(), nullable=False),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("horizon_s", sa.Float(), nullable=False),
        sa.Column("labels", _json(), nullable=False),
        sa.Column("doc", _json(), nullable=False),
        sa.Column("started_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column("resolved_ns", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_state", ["state"], unique=False)
        batch_op.create_index("ix_alerts_fingerprint", ["fingerprint"], unique=False)
        batch_op.create_index("ix_alerts_started", ["started_ns"], unique=False)
        batch_op.create_index("ix_alerts_mode_started", ["mode_id", "started_ns"], unique=False)
        batch_op.create_index("ix_alerts_service_started", ["service", "started_ns"], unique=False)

    op.create_table(
        "alert_silences",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("matchers", _json(), nullable=False),
        sa.Column("starts_ns", sa.BigInteger(), nullable=False),
        sa.Column("ends_ns", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert_silences", schema=None) as batch_op:
        batch_op.create_index("ix_alert_silences_ends", ["ends_ns"], unique=False)

    op.create_table(
        "alert_feedback",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("time_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert_feedback", schema=None) as batch_op:
        batch_op.create_index("ix_alert_feedback_alert", ["alert_id"], unique=False)

    op.create_table(
        "alert_notifications",
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("route", sa.String(length=128), nullable=False),
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("time_ns", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "route", "alert_id"),
    )
    with op.batch_alter_table("alert_notifications", schema=None) as batch_op:
        batch_op.create_index("ix_alert_notifications_alert", ["alert_id"], unique=False)

    op.create_table(
        "alert_dead_letters",
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("route", sa.String(length=128), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("alert_ids", _json(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("time_ns", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "route"),
    )


def downgrade() -> None:
    op.drop_table("alert_dead_letters")
    op.drop_table("alert_notifications")
    op.drop_table("alert_feedback")
    op.drop_table("alert_silences")
    op.drop_table("alerts")
