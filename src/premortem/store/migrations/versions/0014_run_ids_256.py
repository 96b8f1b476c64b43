"""ids as long as the API accepts them: test runs and simulations 256 characters (was 64), log
records 64 (was 32: a sender's UUID did not fit)

Revision ID: 0014_run_ids_256
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_run_ids_256"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, old length, new length); growing a VARCHAR rewrites nothing in PostgreSQL.
_COLUMNS = (
    ("test_runs", "id", 64, 256),
    ("test_run_faults", "run_id", 64, 256),
    ("simulations", "id", 64, 256),
    ("logs", "id", 32, 64),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite does not enforce VARCHAR lengths
    for table, column, old, new in _COLUMNS:
        op.alter_column(table, column, type_=sa.String(new), existing_type=sa.String(old))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, old, new in _COLUMNS:
        op.alter_column(table, column, type_=sa.String(old), existing_type=sa.String(new))
