"""Owners: who started a record version (draft), an analysis job, a launch; launches recorded as sessions.

``owner_id`` columns hold a users.id without a foreign key: adding a constrained column to an existing table
would make SQLite rebuild the catalogue's largest tables, and users are disabled, never deleted.

Revision ID: 0016_owners
Revises: 0007, 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_owners"
down_revision = ("0007", "0015")
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("records", sa.Column("owner_id", sa.BigInteger))
    op.create_index("ix_records_owner", "records", ["owner_id"])
    op.add_column("analysis_jobs", sa.Column("owner_id", sa.BigInteger))
    op.create_index("ix_analysis_jobs_owner_state", "analysis_jobs", ["owner_id", "state"])
    op.create_table(
        "launch_sessions",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("owner_id", sa.BigInteger),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("recid", sa.Integer),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("message", sa.Text),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
    )
    op.create_index("ix_launch_sessions_owner_state", "launch_sessions", ["owner_id", "state"])
    op.create_index("ix_launch_sessions_client_state", "launch_sessions", ["client", "state"])


def downgrade() -> None:
    op.drop_table("launch_sessions")
    op.drop_index("ix_analysis_jobs_owner_state", table_name="analysis_jobs")
    op.drop_column("analysis_jobs", "owner_id")
    op.drop_index("ix_records_owner", table_name="records")
    op.drop_column("records", "owner_id")
