"""Launches as queue jobs: each launch's events, appended by the worker running it, read by any web process; and
a job's progress (an ingest's files done of the total), written by its worker, read by `portal ingest --wait`.

Revision ID: queue_0003_launch_events
Revises: queue_0002_environment_builds
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "queue_0003_launch_events"
down_revision = "queue_0002_environment_builds"
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "launch_events",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("launch_id", sa.String(32), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("data", JSONType, nullable=False),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_launch_events_launch", "launch_events", ["launch_id", "id"])
    with op.batch_alter_table("queue_jobs") as batch:
        batch.add_column(sa.Column("progress", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("queue_jobs") as batch:
        batch.drop_column("progress")
    op.drop_table("launch_events")
