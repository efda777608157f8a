"""Index files by (recid, key) so a download finds its file row directly in a million-file record.

Revision ID: 0009
Revises: 0001
"""

from alembic import op

revision = "0009"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_files_recid_key", "files", ["recid", "key"])


def downgrade() -> None:
    op.drop_index("ix_files_recid_key", table_name="files")
