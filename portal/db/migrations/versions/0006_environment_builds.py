"""Environment builds (content-keyed) and the build key each launched record version is pinned to.

Revision ID: 0006
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "environment_builds",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("builder", sa.String(32), nullable=False),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("source_commit", sa.String(64), nullable=False),
        sa.Column("spec_hash", sa.String(64), nullable=False),
        sa.Column("record", JSONType, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "environment_pins",
        sa.Column("recid", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("environment_pins")
    op.drop_table("environment_builds")
