"""Environment builds: why a build failed as a message id and its values (the `error` text stays, in English), so
the launch following the build shows the reason in its reader's language; rows from before keep their text only.

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


def downgrade() -> None:
    with op.batch_alter_table("environment_build_runs") as batch:
        batch.drop_column("error_message")
