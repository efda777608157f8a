"""Analysis jobs: the environment build a job is pinned to (a re-run of a software record's analysis repeats it in
the build, or the spec, its original ran in).

Revision ID: swanalyses_0001_job_environment
Revises: queue_0002_environment_builds
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "swanalyses_0001_job_environment"
down_revision = "queue_0002_environment_builds"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("analysis_jobs", sa.Column("environment", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analysis_jobs") as batch:
        batch.drop_column("environment")
