"""Analysis jobs: why a job failed as a message id and its values (the `error` text stays, in English), so pages and
the API show the reason in the reader's language; rows from before keep their text only and show it as it is.

Revision ID: swdemo_0001_job_error_message
Revises: swanalyses_0001_job_environment
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "swdemo_0001_job_error_message"
down_revision = "swanalyses_0001_job_environment"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("analysis_jobs", sa.Column("error_message", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analysis_jobs") as batch:
        batch.drop_column("error_message")
