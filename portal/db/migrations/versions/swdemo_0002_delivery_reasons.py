"""Release deliveries: why one was refused or failed as a message id and its values (the `reason` text stays, in
English), so pages and the API show it in the reader's language; deliveries from before keep their text only.

Revision ID: swdemo_0002_delivery_reasons
Revises: releases_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "swdemo_0002_delivery_reasons"
down_revision = "releases_0001"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("release_deliveries", sa.Column("reason_message", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("release_deliveries") as batch:
        batch.drop_column("reason_message")
