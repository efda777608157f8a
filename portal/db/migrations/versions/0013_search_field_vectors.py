"""Search speed: a generation counter of the search index (bumped in every transaction that changes it, so
each process knows when its in-memory facet/sort view is stale), and on PostgreSQL stored tsvectors for the
fielded searches (title:, author:, keywords:) with GIN indexes instead of to_tsvector for every row per query.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

FIELDS = (("tsv_title", "title"), ("tsv_authors", "fields ->> 'authors'"), ("tsv_keywords", "fields ->> 'keywords'"))


def upgrade() -> None:
    state = op.create_table(
        "search_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("generation", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(state, [{"id": 1, "generation": 0}])
    if op.get_bind().dialect.name != "postgresql":
        return
    for column, _ in FIELDS:
        op.add_column("search_documents", sa.Column(column, TSVECTOR))
    op.execute(
        "UPDATE search_documents SET "
        + ", ".join(f"{column} = to_tsvector('simple', coalesce({source}, ''))" for column, source in FIELDS)
    )
    for column, _ in FIELDS:
        op.create_index(f"ix_search_documents_{column}", "search_documents", [column], postgresql_using="gin")


def downgrade() -> None:
    op.drop_table("search_state")
    if op.get_bind().dialect.name != "postgresql":
        return
    for column, _ in FIELDS:
        op.drop_index(f"ix_search_documents_{column}", table_name="search_documents")
        op.drop_column("search_documents", column)
