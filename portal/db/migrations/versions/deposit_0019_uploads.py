"""Deposit uploads: files declared on drafts and their bytes in the upload store until publication.

Revision ID: deposit_0019_uploads
Revises: 0018_oauth_codes
"""

import sqlalchemy as sa
from alembic import op

revision = "deposit_0019_uploads"
down_revision = "0018_oauth_codes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deposit_uploads",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("recid", sa.Integer, sa.ForeignKey("records.recid", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("owner_id", sa.BigInteger),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("length", sa.BigInteger),
        sa.Column("received", sa.BigInteger, nullable=False),
        sa.Column("adler32", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64)),
        sa.Column("md5", sa.String(32)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("recid", "key", name="uq_deposit_uploads_recid_key"),
    )
    op.create_index("ix_deposit_uploads_recid", "deposit_uploads", ["recid"])
    op.create_index("ix_deposit_uploads_updated_at", "deposit_uploads", ["updated_at"])
    op.create_index("ix_deposit_uploads_owner", "deposit_uploads", ["owner_id"])


def downgrade() -> None:
    op.drop_table("deposit_uploads")
