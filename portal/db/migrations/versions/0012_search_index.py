"""Search index: one document per published record version, multi-valued facets, and the full-text part
(an FTS5 table on SQLite; a weighted tsvector with a GIN index on PostgreSQL).

Revision ID: 0012
Revises: 0001
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR

revision = "0012"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    columns: list[Any] = [
        sa.Column("recid", sa.Integer, sa.ForeignKey("records.recid", ondelete="CASCADE"), primary_key=True),
        sa.Column("concept_recid", sa.Integer, nullable=False, index=True),
        sa.Column("is_latest", sa.Boolean, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("title_sort", sa.Text, nullable=False),
        sa.Column("doi", sa.String(255)),
        sa.Column("date_published", sa.String(10), nullable=False),
        sa.Column("year", sa.Integer),
        sa.Column("number_events", sa.BigInteger),
    ]
    if dialect == "postgresql":
        columns += [sa.Column("tsv", TSVECTOR), sa.Column("fields", JSONB)]
    op.create_table("search_documents", *columns)
    op.create_index("ix_search_documents_latest_date", "search_documents", ["is_latest", "date_published", "recid"])
    op.create_index("ix_search_documents_title", "search_documents", ["is_latest", "title_sort", "recid"])
    op.create_table(
        "search_facets",
        sa.Column("recid", sa.Integer, sa.ForeignKey("search_documents.recid", ondelete="CASCADE"), primary_key=True),
        sa.Column("facet", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(255), primary_key=True),
    )
    op.create_index("ix_search_facets_value", "search_facets", ["facet", "value", "recid"])
    if dialect == "postgresql":
        op.create_index("ix_search_documents_tsv", "search_documents", ["tsv"], postgresql_using="gin")
    elif dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5(title, authors, keywords, body, "
            "tokenize = 'unicode61 remove_diacritics 2')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_index("ix_search_facets_value", table_name="search_facets")
    op.drop_table("search_facets")
    op.drop_table("search_documents")
