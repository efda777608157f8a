"""Catalogue core: concepts, record versions, file indices and files.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "concepts",
        sa.Column("recid", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("doi", sa.String(255), unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "records",
        sa.Column("recid", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("concept_recid", sa.Integer, sa.ForeignKey("concepts.recid"), nullable=False, index=True),
        sa.Column("version_index", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("doi", sa.String(255), unique=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("type_primary", sa.String(64), nullable=False, index=True),
        sa.Column("metadata", JSONType, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("files_hash", sa.String(64), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("concept_recid", "version_index", name="uq_records_concept_version"),
    )
    op.create_table(
        "file_indices",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("recid", sa.Integer, sa.ForeignKey("records.recid", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("number_files", sa.BigInteger, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("uri", sa.Text),
        sa.UniqueConstraint("recid", "key", name="uq_file_indices_recid_key"),
    )
    op.create_table(
        "files",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("recid", sa.Integer, sa.ForeignKey("records.recid", ondelete="CASCADE"), nullable=False),
        sa.Column("index_id", sa.BigInteger, sa.ForeignKey("file_indices.id", ondelete="CASCADE")),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("filename", sa.Text),
        sa.Column("uri", sa.Text),
        sa.Column("size", sa.BigInteger),
        sa.Column("checksum", sa.String(80)),
        sa.Column("type", sa.String(64)),
        sa.Column("description", sa.Text),
        sa.Column("availability", sa.String(32)),
    )
    op.create_index("ix_files_recid_index_position", "files", ["recid", "index_id", "position"])


def downgrade() -> None:
    op.drop_index("ix_files_recid_index_position", table_name="files")
    op.drop_table("files")
    op.drop_table("file_indices")
    op.drop_table("records")
    op.drop_table("concepts")
