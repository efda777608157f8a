"""Choosing the search backend: PORTAL_SEARCH_BACKEND names one; empty, the one registered for the database's
dialect is used; a backend on a database it cannot work with is refused naming the setting."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from portal.db.engine import Database
from portal.errors import Invalid
from portal.registry import SEARCH
from portal.search.backends.doubles import DownText, MemoryText
from portal.search.backends.postgres import PostgresFTS
from portal.search.backends.sqlite import SQLiteFTS
from portal.services import build_search_backend
from portal.settings import load_settings


@pytest.fixture
def sqlite_db(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'p.sqlite'}")
    yield db
    db.dispose()


def settings(backend: str = ""):
    return load_settings({"search_backend": backend}, environ={})


def test_every_search_backend_is_registered_with_the_dialect_it_serves():
    assert {"sqlite", "postgres", "memory", "down"} <= set(SEARCH.names())
    assert SEARCH.load("sqlite").dialect == "sqlite"
    assert SEARCH.load("postgres").dialect == "postgresql"
    assert SEARCH.load("memory").dialect is None and SEARCH.load("memory").development_only


def test_empty_means_the_backend_of_the_database(sqlite_db):
    assert isinstance(build_search_backend(settings(), sqlite_db), SQLiteFTS)
    postgres = SimpleNamespace(dialect="postgresql")  # no connection is made to choose
    assert isinstance(build_search_backend(settings(), postgres), PostgresFTS)  # type: ignore[arg-type]


def test_doubles_serve_any_database_when_named(sqlite_db):
    assert isinstance(build_search_backend(settings("memory"), sqlite_db), MemoryText)
    assert isinstance(build_search_backend(settings("down"), sqlite_db), DownText)


def test_a_backend_for_another_database_is_refused_naming_the_setting(sqlite_db):
    with pytest.raises(Invalid, match="needs a postgresql database, and this database is sqlite") as err:
        build_search_backend(settings("postgres"), sqlite_db)
    assert err.value.field == "PORTAL_SEARCH_BACKEND"


def test_an_unknown_backend_or_database_is_refused_with_the_choices(sqlite_db):
    with pytest.raises(Invalid, match="choose one of: down, memory, postgres, sqlite") as err:
        build_search_backend(settings("opensearch"), sqlite_db)
    assert err.value.field == "PORTAL_SEARCH_BACKEND"
    mysql = SimpleNamespace(dialect="mysql")
    with pytest.raises(Invalid, match="no search backend is registered for a mysql database") as err:
        build_search_backend(settings(), mysql)  # type: ignore[arg-type]
    assert err.value.field == "PORTAL_SEARCH_BACKEND"
