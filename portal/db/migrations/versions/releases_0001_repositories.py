"""Connected git repositories and their webhook deliveries (software from git releases).

Revision ID: releases_0001
Revises: 0018_oauth_codes
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "releases_0001"
down_revision = "0018_oauth_codes"
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "release_repositories",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("owner_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("match_url", sa.String(512), nullable=False, unique=True),
        sa.Column("recid", sa.Integer),
        sa.Column("secret_salt", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_release_repositories_owner_id", "release_repositories", ["owner_id"])
    op.create_table(
        "release_deliveries",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column(
            "repository_id", sa.BigInteger, sa.ForeignKey("release_repositories.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("delivery_key", sa.String(128), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("tag", sa.String(255)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("field", sa.String(64)),
        sa.Column("recid", sa.Integer),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("payload", JSONType),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("provider", "delivery_key", name="uq_release_deliveries_provider_key"),
    )
    op.create_index("ix_release_deliveries_repository_id", "release_deliveries", ["repository_id", "id"])


def downgrade() -> None:
    op.drop_table("release_deliveries")
    op.drop_table("release_repositories")
