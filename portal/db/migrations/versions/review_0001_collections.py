"""Curated collections, their curators, review requests and their transitions.

Revision ID: review_0001_collections
Revises: pids_0002_citations
"""

import sqlalchemy as sa
from alembic import op

revision = "review_0001_collections"
down_revision = "pids_0002_citations"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "collections",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("curated", sa.Boolean, nullable=False),
        sa.Column("curator_group", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "collection_curators",
        sa.Column(
            "collection_id", sa.BigInteger, sa.ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_index("ix_collection_curators_user_id", "collection_curators", ["user_id"])
    op.create_table(
        "review_requests",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("recid", sa.Integer, sa.ForeignKey("records.recid", ondelete="CASCADE"), nullable=False),
        sa.Column("collection_id", sa.BigInteger, sa.ForeignKey("collections.id", ondelete="CASCADE"), nullable=False),
        sa.Column("owner_id", sa.BigInteger),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_review_requests_recid", "review_requests", ["recid"])
    op.create_index("ix_review_requests_collection_id", "review_requests", ["collection_id"])
    op.create_index("ix_review_requests_state", "review_requests", ["state"])
    op.create_index("ix_review_requests_owner", "review_requests", ["owner_id"])
    op.create_table(
        "review_events",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.BigInteger, sa.ForeignKey("review_requests.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.BigInteger),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
    )
    op.create_index("ix_review_events_request_id", "review_events", ["request_id"])


def downgrade() -> None:
    op.drop_table("review_events")
    op.drop_table("review_requests")
    op.drop_table("collection_curators")
    op.drop_table("collections")
