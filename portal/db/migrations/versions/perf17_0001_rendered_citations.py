"""Citations formatted by citeproc-py (~50 ms each, three on every record page) kept per record version and style,
with the digest of what they were formatted from (portal.exports.rendered).

Revision ID: perf17_0001_rendered_citations
Revises: scale_0001_restricted_index
"""

import sqlalchemy as sa
from alembic import op

revision = "perf17_0001_rendered_citations"
down_revision = "scale_0001_restricted_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rendered_citations",
        sa.Column("recid", sa.Integer, sa.ForeignKey("records.recid", ondelete="CASCADE"), primary_key=True),
        sa.Column("style", sa.String(32), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rendered_citations")
