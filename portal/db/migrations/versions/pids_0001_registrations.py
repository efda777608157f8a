"""The pending-registration table of DOIs registered with an outside registry (DataCite).

Revision ID: pids_0001_registrations
Revises: 0018_oauth_codes
"""

import sqlalchemy as sa
from alembic import op

revision = "pids_0001_registrations"
down_revision = "0018_oauth_codes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pid_registrations",
        sa.Column("doi", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("recid", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("error_field", sa.String(255)),
        sa.Column("url", sa.Text),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_pid_registrations_recid", "pid_registrations", ["recid"])
    op.create_index("ix_pid_registrations_state_next", "pid_registrations", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("pid_registrations")
