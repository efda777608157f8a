"""The job queue: background work as rows claimed by `portal worker` processes.

Revision ID: queue_0001_queue_jobs
Revises: 0016_owners
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "queue_0001_queue_jobs"
down_revision = "0016_owners"
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "queue_jobs",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(128)),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("owner_id", sa.BigInteger),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("worker_id", sa.String(128)),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True)),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_queue_jobs_state_run_after", "queue_jobs", ["state", "run_after"])
    op.create_index("ix_queue_jobs_owner_state", "queue_jobs", ["owner_id", "state"])
    op.create_index("ix_queue_jobs_ref", "queue_jobs", ["ref"])


def downgrade() -> None:
    op.drop_table("queue_jobs")
