"""Environment pins keep the image their build made (the image id, a digest of its content) and the builder, so
a published version relaunches that very image while it is cached and says when it had to be rebuilt.

Revision ID: containers_0019_pin_image
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "containers_0019_pin_image"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("environment_pins") as batch:
        batch.add_column(sa.Column("image", sa.String(255), nullable=True))
        batch.add_column(sa.Column("image_digest", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("environment_pins") as batch:
        batch.drop_column("image_digest")
        batch.drop_column("image")
