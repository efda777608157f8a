"""A partial index of the direct files that may hold a Python package: every dataset page's Analyse panel asks which
software records provide analyses, and without it that question read every software record (minutes at 200,000
records on a cold cache, and a grouped scan of all software versions on every page after that).

Revision ID: perf1m_0001_package_files_index
Revises: perf17_0001_rendered_citations
"""

import sqlalchemy as sa
from alembic import op

revision = "perf1m_0001_package_files_index"
down_revision = "perf17_0001_rendered_citations"
branch_labels = None
depends_on = None

# The same literal predicate as portal.db.models.PACKAGE_FILE_SQL (a migration does not import the models).
PREDICATE = (
    "index_id IS NULL AND (lower(key) LIKE '%.tar.gz' OR lower(key) LIKE '%.tgz' OR lower(key) LIKE '%.tar' "
    "OR lower(key) LIKE '%.zip' OR lower(key) LIKE '%.whl' OR lower(key) LIKE '%.py' "
    "OR lower(key) IN ('portal-analyses.toml', 'pyproject.toml', 'setup.cfg', 'setup.py'))"
)


def upgrade() -> None:
    op.create_index(
        "ix_files_package",
        "files",
        ["recid"],
        postgresql_where=sa.text(PREDICATE),
        sqlite_where=sa.text(PREDICATE),
    )


def downgrade() -> None:
    op.drop_index("ix_files_package", table_name="files")
