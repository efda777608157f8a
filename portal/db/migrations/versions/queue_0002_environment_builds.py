"""Environment builds as queue jobs: the builds asked for (one active per key) and their log lines.

Revision ID: queue_0002_environment_builds
Revises: queue_0001_queue_jobs
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "queue_0002_environment_builds"
down_revision = "queue_0001_queue_jobs"
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "environment_build_runs",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False),
        # the key while the build is queued or running, NULL after: unique, so one build per key at a time
        sa.Column("active_key", sa.String(64), unique=True),
        sa.Column("job_id", sa.BigInteger),
        sa.Column("repo_dir", sa.String(1024), nullable=False),
        sa.Column("source_commit", sa.String(64), nullable=False),
        sa.Column("label", sa.String(1024), nullable=False),
        sa.Column("recid", sa.Integer),
        sa.Column("spec", JSONType),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_environment_build_runs_key", "environment_build_runs", ["key"])
    op.create_table(
        "environment_build_lines",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id",
            BigIntPK,
            sa.ForeignKey("environment_build_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("data", JSONType, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_environment_build_lines_run", "environment_build_lines", ["run_id", "id"])


def downgrade() -> None:
    op.drop_table("environment_build_lines")
    op.drop_table("environment_build_runs")
