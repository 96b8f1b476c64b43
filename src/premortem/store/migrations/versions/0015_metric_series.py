"""metric series and their points (Prometheus remote-write)

Revision ID: 0015_metric_series
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015_metric_series"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "metric_series",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("metric", sa.String(length=256), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_metric_series_metric", "metric_series", ["metric"])
    op.create_table(
        "metric_points",
        sa.Column("series_id", sa.String(length=32), nullable=False),
        sa.Column("time_ns", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("series_id", "time_ns"),
    )


def downgrade() -> None:
    op.drop_table("metric_points")
    op.drop_index("ix_metric_series_metric", table_name="metric_series")
    op.drop_table("metric_series")
