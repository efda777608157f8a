"""Tombstones: a removed published version keeps its row (status "removed") with when, why and its citation.

Revision ID: 0016_tombstones
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_tombstones"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("removed_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("removal_reason", sa.Text))
        batch.add_column(sa.Column("removal_citation", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.drop_column("removal_citation")
        batch.drop_column("removal_reason")
        batch.drop_column("removed_at")
