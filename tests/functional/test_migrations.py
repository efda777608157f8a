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
