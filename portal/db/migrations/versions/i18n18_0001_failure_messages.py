"""Environment builds, launch sessions and queue jobs: why a build, a launch or a job failed as a message id and its
values (the `error` / `message` text stays, in English), so the launch's stream, "my sessions" and the jobs API
show the reason in the reader's language; rows from before keep their text only.

Revision ID: i18n18_0001_failure_messages
Revises: queue_0003_launch_events
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "i18n18_0001_failure_messages"
down_revision = "queue_0003_launch_events"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("environment_build_runs", sa.Column("error_message", JSONType, nullable=True))
    op.add_column("launch_sessions", sa.Column("message_text", JSONType, nullable=True))
    op.add_column("queue_jobs", sa.Column("error_message", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("environment_build_runs") as batch:
        batch.drop_column("error_message")
    with op.batch_alter_table("launch_sessions") as batch:
        batch.drop_column("message_text")
    with op.batch_alter_table("queue_jobs") as batch:
        batch.drop_column("error_message")
