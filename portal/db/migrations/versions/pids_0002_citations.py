"""External works citing a record (DOI, arXiv, INSPIRE), by concept.

Revision ID: pids_0002_citations
Revises: pids_0001_registrations
"""

import sqlalchemy as sa
from alembic import op

revision = "pids_0002_citations"
down_revision = "pids_0001_registrations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_citations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("concept_recid", sa.Integer, sa.ForeignKey("concepts.recid", ondelete="CASCADE"), nullable=False),
        sa.Column("relation", sa.String(32), nullable=False),
        sa.Column("scheme", sa.String(16), nullable=False),
        sa.Column("identifier", sa.String(255), nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("added_by", sa.BigInteger, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("concept_recid", "relation", "scheme", "identifier", name="uq_record_citations_work"),
    )
    op.create_index("ix_record_citations_concept_recid", "record_citations", ["concept_recid"])


def downgrade() -> None:
    op.drop_table("record_citations")
