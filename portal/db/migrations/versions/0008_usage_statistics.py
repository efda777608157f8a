"""Usage statistics: raw events, daily salts, hourly aggregates, co-downloads.

Revision ID: 0008
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0001"
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "usage_events",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("recid", sa.Integer, nullable=False),
        sa.Column("concept_recid", sa.Integer, nullable=False),
        sa.Column("file_key", sa.String(512), nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("visitor", sa.String(64), nullable=False),
        sa.Column("machine", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_usage_events_created", "usage_events", ["created_at"])
    op.create_table(
        "stats_salts",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("salt", sa.String(64), nullable=False),
    )
    op.create_table(
        "stats_aggregates",
        sa.Column("scope", sa.String(8), primary_key=True),
        sa.Column("recid", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("unique_visitors", sa.Integer, nullable=False),
        sa.Column("volume", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "stats_codownloads",
        sa.Column("concept_recid", sa.Integer, primary_key=True),
        sa.Column("other_recid", sa.Integer, primary_key=True),
        sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("visitors", sa.Integer, nullable=False),
    )
    op.create_table(
        "stats_state",
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("value", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stats_state")
    op.drop_table("stats_codownloads")
    op.drop_table("stats_aggregates")
    op.drop_table("stats_salts")
    op.drop_index("ix_usage_events_created", table_name="usage_events")
    op.drop_table("usage_events")
