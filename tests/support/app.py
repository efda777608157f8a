"""The portal app of a functional test, built once here for every test module (exposed by tests/conftest.py).

Fixtures:
    app_settings: settings overrides for `app`; empty here. A module overrides this fixture (it may use
        `tmp_path`), or a test parametrizes it, to build its app with other settings.
    make_app: a factory, ``make_app(**overrides)``: an app from the test's settings (its database, its
        `var_dir`) plus overrides; every call builds another app on
        the same database, as a second web worker would. A SQLite database that does not exist yet starts as a
        copy of `migrated_sqlite`.
    migrated_sqlite: a SQLite database migrated to the heads once per session (per xdist worker): migrating a new
        one took ~0.5 s of every SQLite test's app, and the copy is what the same migrations make.
    app: ``make_app(**app_settings)``. A module that needs records in it extends it under the same name,
        ``def app(app): ...load...; return app``, as pytest lets a fixture build on the one it overrides.
    client: ``app.test_client()``.
    start_worker: ``start_worker(app)`` runs a real job-queue worker on the app's database in threads of the
        test process; ``make_app`` starts one for every app it builds, so jobs an app queues get run.

The services of every app a test builds are closed when the test ends (see tests/conftest.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.app import create_app, services_of
from portal.db.engine import Database
from portal.db.migrate import upgrade
from portal.jobqueue.worker import Worker


def start_worker(app: Flask, **options: Any) -> Worker:
    """A real worker (the one `portal worker` runs) for the app's queue; it stops when the app's services close
    (a job still running 10 s later is released to the queue, as a stopping `portal worker` does)."""
    svc = services_of(app)
    options = {
        "concurrency": 2,
        "poll_interval": 0.2,
        "heartbeat_timeout": svc.settings.worker_heartbeat_timeout,
    } | options
    worker = Worker(svc, **options).start()
    svc.closers.append(lambda: worker.stop(grace=10))
    return worker


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {}


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("migrated") / "portal.sqlite"
    db = Database(f"sqlite:///{path}")  # the portal's engine (its pragmas), as an app's start-up migrates with
    try:
        upgrade(db.engine)
    finally:
        db.dispose()
    return path


def _start_migrated(url: str, template: Path) -> None:
    """A SQLite database at ``url`` that does not exist yet becomes a copy of ``template`` (the app's start-up
    migration then has nothing to do); any other is left as it is."""
    if not url.startswith("sqlite:///"):
        return
    target = Path(url.removeprefix("sqlite:///"))
    if target.exists() or not target.parent.is_dir():
        return
    with sqlite3.connect(template) as source, sqlite3.connect(target) as copy:
        source.backup(copy)  # page by page, whatever the template's journal mode
    source.close()
    copy.close()


@pytest.fixture
def make_app(settings_dict: dict[str, Any], migrated_sqlite: Path) -> Callable[..., Flask]:
    def make(**overrides: Any) -> Flask:
        settings = {**settings_dict, **overrides}
        _start_migrated(str(settings["database_url"]), migrated_sqlite)
        app = create_app(settings)
        start_worker(app)
        return app

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask], app_settings: dict[str, Any]) -> Flask:
    return make_app(**app_settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
