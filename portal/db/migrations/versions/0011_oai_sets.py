"""OAI-PMH set membership of each record version, kept in step with the catalogue.

Revision ID: 0011
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oai_sets",
        sa.Column("recid", sa.Integer, sa.ForeignKey("records.recid", ondelete="CASCADE"), primary_key=True),
        sa.Column("spec", sa.String(255), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
    )
    op.create_index("ix_oai_sets_spec", "oai_sets", ["spec", "recid"])
    op.create_index("ix_records_status_updated", "records", ["status", "updated_at", "recid"])


def downgrade() -> None:
    op.drop_index("ix_records_status_updated", table_name="records")
    op.drop_index("ix_oai_sets_spec", table_name="oai_sets")
    op.drop_table("oai_sets")
