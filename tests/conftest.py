"""Shared fixtures: settings for a throw-away portal on SQLite or on a real PostgreSQL server, and the app.

Fixtures:
    postgres_url: a PostgreSQL server for the session (PORTAL_TEST_POSTGRES_URL, or one started here).
    database_url: each test runs twice, on SQLite and on PostgreSQL (reset before the test).
    settings_dict: the settings of a throw-away portal on that database.
    app_settings, make_app, app, client: the portal app built from them (tests/support/app.py).
    user_token: tokens of users of that app (tests/support/users.py), as the old curator token was.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import portal.app
import portal.services
from tests.support.app import app, app_settings, client, make_app, migrated_sqlite
from tests.support.postgres import postgres_server, reset_database
from tests.support.users import user_token

ROOT = Path(__file__).resolve().parent.parent
LESSONS_DIR = ROOT / "education" / "lessons"  # the checkout's content directories (settings lessons_dir, envs_dir)
ENVS_DIR = ROOT / "analysis_envs"
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "cernopendata"
# fixtures defined in tests/support/
__all__ = ["app", "app_settings", "client", "make_app", "migrated_sqlite", "user_token"]


# Cheap password hashes in every portal the tests build, in this process and in the processes it starts (they
# inherit the environment): argon2id at its production cost takes 0.1-1 s a hash on a loaded machine, paid at every
# account created and every password sign-in. tests/unit/test_settings.py checks the production defaults.
os.environ.setdefault("PORTAL_PASSWORD_HASH_TIME_COST", "1")
os.environ.setdefault("PORTAL_PASSWORD_HASH_MEMORY_KIB", "32")

#: modules that share the checkout's podman image store (.venv/share/portal/images): one worker runs them all, so
#: the base image is built once and no two builds race for it
PODMAN_MODULES = {
    "test_podman_builder",
    "test_container_sessions",
    "test_container_image",
    "test_builder_contract",
    "test_stack_containers",
    "test_software_analyses",  # its podman run builds into the same image store that the builder tests prune
}


#: groups holding a test of half a minute or more (CI's --durations), longest first: handed out to the workers
#: first. Left in xdist's default order (most tests first) they came last, one long test at a time, and the run
#: waited for them on one worker while the others idled (the fuzz and gateway groups were 96th and 113th of 131).
SLOW_GROUPS = (
    "podman",  # the lesson launch builds its image (~3 min), the portal image (~4 min), the builder (~30 s each)
    "test_api_fuzz",
    "test_search_contract",
    "test_queued_launches",
    "test_distributed_stack",
    "test_exports",
    "test_dataset_launch_browser",
    "test_deposit_browser",
    "test_launch_browser",
    "test_datacite_pids",
    "test_cli",
    "test_oai",
    "test_large_download",
    "test_faults_servers",
    "test_gateway",
    "test_gateway_hub",  # a hub, a gateway, a cluster and a session
    "test_analyse_browser",
    "test_software_analysis_browser",
    "test_launch",
    "test_faults_disk",
)


def group_of(nodeid: str) -> str:
    """The xdist group of a test: its module's path, or "podman" for :data:`PODMAN_MODULES`."""
    path = nodeid.split("::", 1)[0]
    return "podman" if Path(path).stem in PODMAN_MODULES else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """Under `pytest -n N --dist loadgroup` (make test) a module's tests stay on one worker, so its module-scoped
    servers (portals, hubs, XRootD) start once; the podman modules share one worker.

    The groups come from the node ids (:func:`group_of`), not from `xdist_group` marks, which never took effect
    here: they were added in the trylast hook below, after xdist's own hook had looked for them, and xdist 3.8
    puts a mark's group into ``item._nodeid``, which pytest 9.2 no longer reads (node ids come from ``item._id``).
    Every test was then a work unit of its own, spread over the workers: a module-scoped fixture started on each
    worker that drew one of its module's tests (twice for test_installed_wheel's 18 s venv in CI), and the podman
    modules built images on several workers at once."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ModuleGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return ModuleGroups(config, log)  # type: ignore[arg-type]


@pytest.hookimpl(trylast=True)  # after pytest's own reordering (by fixture scope), which it keeps within groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The groups ordered for `--no-loadscope-reorder` (make test), which hands them out in this order:
    :data:`SLOW_GROUPS` first, then the others by number of tests (xdist's own order), each group kept whole."""
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        groups.setdefault(group_of(item.nodeid), []).append(item)

    def rank(group: str) -> tuple[int, int]:
        short = Path(group).stem
        return (SLOW_GROUPS.index(short), 0) if short in SLOW_GROUPS else (len(SLOW_GROUPS), -len(groups[group]))

    items[:] = [item for group in sorted(groups, key=rank) for item in groups[group]]  # sorted() is stable


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = os.environ.get("PORTAL_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    try:
        with postgres_server() as started:
            yield started
    except (RuntimeError, OSError) as exc:
        if os.environ.get("PORTAL_TEST_REQUIRE_POSTGRES"):
            raise
        pytest.skip(f"no PostgreSQL available: {exc}")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'portal.sqlite'}"
    url = request.getfixturevalue("postgres_url")
    reset_database(url)
    return url


@pytest.fixture
def settings_dict(database_url: str, tmp_path: Path) -> dict[str, object]:
    return {
        "database_url": database_url,
        "var_dir": str(tmp_path / "var"),
        "base_url": "http://portal.test",
        "first_recid": 100000,
    }


@pytest.fixture(autouse=True)
def close_services_built_by_the_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Services a test builds (apps, CLI runs) are closed when it ends, while its database still exists.

    Left open, their statistics flusher would keep running into the next test's database (every PostgreSQL test
    uses the same one, reset between tests) and fail noisily at exit once the test server has stopped.
    """
    built: list[portal.services.Services] = []
    original = portal.services.build_services

    def build_and_track(*args: object, **kwargs: object) -> portal.services.Services:
        services = original(*args, **kwargs)  # type: ignore[arg-type]
        built.append(services)
        return services

    for module in (portal.services, portal.app):  # portal.cli imports build_services from portal.services per call
        monkeypatch.setattr(module, "build_services", build_and_track)
    yield
    for services in reversed(built):
        services.close()
