"""A partial index of the restricted record versions: searches ask which versions a visitor may not see on every
request, and without it that read the metadata JSON of the whole records table.

Revision ID: scale_0001_restricted_index
Revises: 0016_tombstones
"""

import sqlalchemy as sa
from alembic import op

revision = "scale_0001_restricted_index"
down_revision = "0016_tombstones"
branch_labels = None
depends_on = None

# The same literal predicates as portal.db.models.RESTRICTED_SQL (a migration does not import the models).
PREDICATES = {
    "postgresql": "((metadata -> 'access') ->> 'record') = 'restricted'",
    "sqlite": "json_extract(metadata, '$.access.record') = 'restricted'",
}


def upgrade() -> None:
    op.create_index(
        "ix_records_restricted",
        "records",
        ["recid"],
        postgresql_where=sa.text(PREDICATES["postgresql"]),
        sqlite_where=sa.text(PREDICATES["sqlite"]),
    )


def downgrade() -> None:
    op.drop_index("ix_records_restricted", table_name="records")
