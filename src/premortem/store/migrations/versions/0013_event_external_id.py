"""events keep the producer's own id (CloudEvents `id`, Kubernetes uid)

Revision ID: 0013_event_external_id
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_event_external_id"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "events",
        sa.Column("external_id", sa.String(length=512), nullable=False, server_default=""),
    )
    op.create_index("ix_events_source_external_id", "events", ["source", "external_id"])


def downgrade() -> None:
    op.drop_index("ix_events_source_external_id", table_name="events")
    op.drop_column("events", "external_id")
