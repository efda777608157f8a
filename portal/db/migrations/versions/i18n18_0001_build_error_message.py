"""Environment builds and launch sessions: why a build or a launch failed as a message id and its values (the
`error` / `message` text stays, in English), so the launch's stream and "my sessions" show the reason in the
reader's language; rows from before keep their text only.

Revision ID: i18n18_0001_build_error_message
Revises: queue_0003_launch_events
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "i18n18_0001_build_error_message"
down_revision = "queue_0003_launch_events"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("environment_build_runs", sa.Column("error_message", JSONType, nullable=True))
    op.add_column("launch_sessions", sa.Column("message_text", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("environment_build_runs") as batch:
        batch.drop_column("error_message")
    with op.batch_alter_table("launch_sessions") as batch:
        batch.drop_column("message_text")
