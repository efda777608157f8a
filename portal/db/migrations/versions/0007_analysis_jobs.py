"""Analysis jobs: an analysis run over a dataset, its progress, result and provenance.

Revision ID: 0007
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0001"
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "analysis_jobs",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("analysis", sa.String(512), nullable=False),
        sa.Column("dataset_recid", sa.Integer, nullable=False),
        sa.Column("executor", sa.String(16), nullable=False),
        sa.Column("skip_bad_files", sa.Boolean, nullable=False),
        sa.Column("parameters", JSONType, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress", JSONType, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("result", JSONType),
        sa.Column("provenance", JSONType),
        sa.Column("derived_recid", sa.Integer),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_analysis_jobs_dataset", "analysis_jobs", ["dataset_recid"])


def downgrade() -> None:
    op.drop_index("ix_analysis_jobs_dataset", "analysis_jobs")
    op.drop_table("analysis_jobs")
