"""Per-file inspection results from ingest: format, entries and a structure summary.

Revision ID: 0010
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0001"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("format", sa.String(32)))
        batch.add_column(sa.Column("entries", sa.BigInteger))
        batch.add_column(sa.Column("inspection", JSONType))


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("inspection")
        batch.drop_column("entries")
        batch.drop_column("format")
