"""log windows: per-source window totals and per-template window counts

Revision ID: 0002_windows
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_windows"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "log_windows",
        sa.Column("service", sa.String(length=256), nullable=False),
        sa.Column("start_ns", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("end_ns", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("by_severity", JSON, nullable=True),
        sa.PrimaryKeyConstraint("service", "start_ns"),
    )
    op.create_index("ix_log_windows_start", "log_windows", ["start_ns"])
    op.create_table(
        "template_windows",
        sa.Column("service", sa.String(length=256), nullable=False),
        sa.Column("template_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("start_ns", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("service", "template_id", "start_ns"),
    )
    op.create_index(
        "ix_template_windows_template_start", "template_windows", ["template_id", "start_ns"]
    )


def downgrade() -> None:
    op.drop_index("ix_template_windows_template_start", table_name="template_windows")
    op.drop_table("template_windows")
    op.drop_index("ix_log_windows_start", table_name="log_windows")
    op.drop_table("log_windows")
