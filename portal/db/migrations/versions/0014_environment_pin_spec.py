"""Environment pins keep the spec files they were computed from, so a published version rebuilds as it was.

Revision ID: 0014
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0014"
down_revision = "0006"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("environment_pins") as batch:
        batch.add_column(sa.Column("spec", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("environment_pins") as batch:
        batch.drop_column("spec")
