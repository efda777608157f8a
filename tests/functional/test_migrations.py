"""Alembic migrations go up and down cleanly on SQLite and PostgreSQL."""

from sqlalchemy import inspect

from portal.db.engine import Database
from portal.db.migrate import downgrade, upgrade


def test_upgrade_downgrade_upgrade(database_url):
    db = Database(database_url)
    upgrade(db.engine)
    tables = set(inspect(db.engine).get_table_names())
    assert {"concepts", "records", "file_indices", "files", "alembic_version"} <= tables
    upgrade(db.engine)  # idempotent
    downgrade(db.engine, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade(db.engine)
    assert "records" in inspect(db.engine).get_table_names()
    db.dispose()


def _backend_text(change: tuple) -> bool:
    """Whether an autogenerate change concerns what a search backend keeps in its own SQL (SQLite's FTS5 table and
    its shadow tables; PostgreSQL's tsvector columns, search_text and their indexes), which no model maps."""
    kind, *rest = change
    if kind == "remove_table":
        return rest[0].name.startswith(("search_fts", "search_text"))
    if kind == "remove_index":
        return rest[0].name.startswith(("ix_search_text_", "ix_search_documents_tsv"))
    if kind == "remove_column":
        return rest[1] == "search_documents" and rest[2].name in {
            "tsv",
            "tsv_title",
            "tsv_authors",
            "tsv_keywords",
            "fields",
        }
    return False


def test_the_models_match_what_the_migrations_create(database_url):
    """Every table, column and index the models declare is what the migrations create, and nothing more (a
    model changed without a migration, or a migration without its model, fails here)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import portal.services  # noqa: F401  (imports every package that maps tables on Base)
    from portal.db.models import Base

    db = Database(database_url)
    upgrade(db.engine)
    # SQLite reports BIGINT for a BigInteger that is INTEGER there (a variant): type comparison only on PostgreSQL
    opts = {"compare_type": db.dialect == "postgresql"}
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
    diff = [d for d in diff if not _backend_text(d)]
    db.dispose()
    assert diff == [], "\n".join(str(d)[:200] for d in diff)
