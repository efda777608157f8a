"""LaunchManager over the builder and launcher doubles: what a user sees in the event stream when a build fails,
a hub is slow or down, or a request is bad; record launches pin their build; listings are typed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.catalog.importers import IndexLocator, to_record_input
from portal.catalog.service import CatalogService
from portal.db.engine import Database
from portal.db.migrate import upgrade
from portal.db.models import EnvironmentBuild, EnvironmentPin
from portal.education.lessons import Lessons
from portal.environments.builders import Builder
from portal.environments.doubles import FailingBuilder, InstantBuilder
from portal.errors import Invalid, NotFound, Unavailable
from portal.launch.base import FileRef, Launcher
from portal.launch.doubles import DownLauncher, RecordingLauncher, SlowLauncher
from portal.launch.jupyterhub import JupyterHubLauncher
from portal.launch.kinds import EnvLaunch, GitLaunch, RecordLaunch
from portal.launch.manager import BrokenEnvironment, Build, Environment, LaunchJob, LaunchManager
from portal.pids.doubles import RecordingPIDProvider
from portal.storage.doubles import MemoryStorage

FILE = {
    "key": "events.root",
    "uri": "root://eospublic.cern.ch//eos/opendata/events.root",
    "checksum": "adler32:0000000c",
    "size": 12,
}


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[tuple[Database, CatalogService, Path]]:
    db = Database(f"sqlite:///{tmp_path / 'portal.sqlite'}")
    upgrade(db.engine)
    catalog = CatalogService(
        db, RecordingPIDProvider(), first_recid=100000, base_url="http://portal.test", publisher="Test"
    )
    envs = tmp_path / "envs"
    (envs / "course").mkdir(parents=True)
    (envs / "course" / "requirements.txt").write_text("pandas==3.1.1\n")
    yield db, catalog, envs
    db.dispose()


def manager(portal: tuple[Database, CatalogService, Path], builder: Builder, launcher: Launcher) -> LaunchManager:
    db, catalog, envs = portal
    work = envs.parent / "work"
    made = LaunchManager(
        db,
        catalog,
        MemoryStorage(),
        builder,
        launcher,
        work_dir=work,
        git_hosts=["github.com"],
        envs_root=envs,
        lessons=Lessons(envs.parent / "lessons", envs),
    )
    catalog.observers.append(made.pin_published)
    return made


def load_record(catalog: CatalogService, recid: int, **extra: object) -> None:
    raw = {
        "recid": recid,
        "title": f"Dataset {recid}",
        "type": {"primary": "Dataset"},
        "experiment": ["CMS"],
        "date_published": "2024-05-01",
        **extra,
    }
    catalog.load([to_record_input(raw, source=Path("test.json"), locator=IndexLocator(None))])


def events(job: LaunchJob) -> list[dict[str, object]]:
    return [e for e in job.stream(heartbeat=0.01) if e is not None]


def test_a_failing_build_ends_the_stream_with_failed_naming_the_reason(portal, tmp_path):
    builder = FailingBuilder(tmp_path / "builds")
    launcher = RecordingLauncher(tmp_path / "sessions")
    got = events(manager(portal, builder, launcher).start(EnvLaunch("course")))
    assert [e["phase"] for e in got][0] == "waiting" and got[-1]["phase"] == "failed", got
    assert got[-1]["message"] == f"BuildFailed: {FailingBuilder.REASON}"
    assert "building" in [e["phase"] for e in got[:-1]]
    assert not launcher.servers  # nothing was launched
    assert not [p for p in (tmp_path / "builds").iterdir()]  # and nothing half-built was kept
    with portal[0].reader() as s:
        assert s.query(EnvironmentBuild).count() == 0


def test_a_slow_launch_keeps_the_stream_alive_with_heartbeats_and_progress(portal, tmp_path):
    launcher = SlowLauncher(tmp_path / "sessions", delay=3600, step=3600)
    job = manager(portal, InstantBuilder(tmp_path / "builds"), launcher).start(EnvLaunch("course"))
    stream = job.stream(heartbeat=0.01)
    seen = []
    for item in stream:  # up to the server start, which blocks until released
        seen.append(item)
        if item is not None and item["phase"] == "launching":
            break
    assert next(stream) is None  # the hub is busy: the stream says it is alive, and nothing else
    launcher.release.set()
    rest = [e for e in stream if e is not None]
    assert rest[-1]["phase"] == "ready" and str(rest[-1]["url"]).endswith("/lab"), rest

    progress = SlowLauncher(tmp_path / "sessions", delay=0.04, step=0.01)
    job = manager(portal, InstantBuilder(tmp_path / "builds"), progress).start(EnvLaunch("course", "a.ipynb"))
    got = events(job)
    starting = [e["message"] for e in got if "is starting" in str(e["message"])]
    assert [m.rsplit("(", 1)[1] for m in starting] == ["1 of 4)", "2 of 4)", "3 of 4)"], got
    assert got[-1]["phase"] == "ready" and str(got[-1]["url"]).endswith("/lab/tree/a.ipynb")


def test_a_hub_that_is_down_gives_a_clear_message(portal, tmp_path):
    job = manager(portal, InstantBuilder(tmp_path / "builds"), DownLauncher("http://hub.test:8000")).start(
        EnvLaunch("course")
    )
    got = events(job)
    assert got[-1]["phase"] == "failed", got
    assert str(got[-1]["message"]).startswith("Unavailable: JupyterHub is unreachable at http://hub.test:8000")
    assert "built" in [e["phase"] for e in got]  # the build itself was fine and is kept for the next try


def test_a_portal_without_a_hub_says_how_to_start_one(portal, tmp_path):
    launcher = JupyterHubLauncher("", "", tmp_path / "sessions")
    got = events(manager(portal, InstantBuilder(tmp_path / "builds"), launcher).start(EnvLaunch("course")))
    assert got[-1]["phase"] == "failed" and "JupyterHub is not running" in str(got[-1]["message"]), got
    assert "PORTAL_LAUNCH_HUB_URL" in str(got[-1]["message"])


def test_a_launch_is_refused_before_its_build_while_the_hub_cannot_be_reached(portal, tmp_path):
    from portal.storage.server import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    builder = InstantBuilder(tmp_path / "builds")
    made = manager(portal, builder, JupyterHubLauncher(url, "t", tmp_path / "sessions"))
    with pytest.raises(Unavailable, match=f"JupyterHub is unreachable at {url}"):
        made.check(EnvLaunch("course"))
    with pytest.raises(NotFound, match="no analysis environment named 'nope'"):  # bad input is named first
        made.check(EnvLaunch("nope"))
    assert made.builds() == ([], 0)  # nothing was built


def test_bad_requests_fail_before_any_stream(portal, tmp_path):
    made = manager(portal, InstantBuilder(tmp_path / "builds"), RecordingLauncher(tmp_path / "sessions"))
    load_record(portal[1], 7)
    with pytest.raises(NotFound, match="no analysis environment named 'nope'; known: course"):
        made.start(EnvLaunch("nope"))
    with pytest.raises(Invalid, match="record 7 names no environment"):
        made.start(RecordLaunch(7))
    with pytest.raises(NotFound):
        made.start(RecordLaunch(8))
    with pytest.raises(Invalid, match="'evil.example' is not allowed"):
        made.start(GitLaunch("https://evil.example/x.git", "main"))
    with pytest.raises(Invalid, match="must be relative"):
        made.start(EnvLaunch("course", notebook="../../etc/passwd"))
    assert made.jobs == {}  # no job was queued for any of them
    assert made.check(EnvLaunch("course")) == "course"


def test_a_record_launch_carries_its_files_and_is_pinned_to_its_build(portal, tmp_path):
    builder = InstantBuilder(tmp_path / "builds")
    launcher = RecordingLauncher(tmp_path / "sessions")
    made = manager(portal, builder, launcher)
    load_record(portal[1], 7, system_details={"description": "analysis_envs/course"}, files=[FILE])
    assert made.check(RecordLaunch(7)) == "record 7 (course)"
    job = made.start(RecordLaunch(7))
    assert job.recid == 7  # counted as a launch of record 7
    first = events(job)
    assert first[-1]["phase"] == "ready", first
    (user, server), session = next(iter(launcher.servers.items()))
    assert (user, session.env["PORTAL_RECORD"]) == ("demo", "7")
    fileset = json.loads(Path(session.env["PORTAL_FILESET"]).read_text())
    assert fileset == {"recid": 7, "files": [FILE]}  # by reference, as the catalogue has it
    with portal[0].reader() as s:
        pin = s.get(EnvironmentPin, 7)
        assert pin is not None and pin.key == session.env["PORTAL_ENVIRONMENT_KEY"]

    again = events(made.start(RecordLaunch(7)))
    assert "building" not in [e["phase"] for e in again] and any(e.get("cached") for e in again), again
    assert again[-1]["server_url"] == first[-1]["server_url"] and len(launcher.servers) == 1


def test_environments_and_builds_are_typed(portal, tmp_path):
    builder = InstantBuilder(tmp_path / "builds")
    made = manager(portal, builder, RecordingLauncher(tmp_path / "sessions"))
    broken = portal[2] / "broken"
    (broken / "binder").mkdir(parents=True)
    (broken / ".binder").mkdir()
    envs = made.environments()
    assert [type(e) for e in envs] == [BrokenEnvironment, Environment]
    assert envs[0].name == "broken" and "both binder/ and .binder/" in envs[0].error
    # the API says why in its reader's language: the error's message id is kept
    assert envs[0].as_dict() == {"name": "broken", "error": envs[0].error}
    assert envs[0].as_dict(lambda message, *_: f"<{message}>")["error"].endswith(">")
    course = envs[1]
    assert isinstance(course, Environment) and not course.built and course.builder == "instant"
    assert list(course.as_dict()) == [
        "name",
        "path",
        "buildpack",
        "spec_files",
        "spec_hash",
        "builder",
        "key",
        "built",
        "unsupported",
    ]
    assert events(made.start(EnvLaunch("course")))[-1]["phase"] == "ready"
    assert made.environments()[1].built  # type: ignore[union-attr]
    builds, total = made.builds()
    assert total == 1 and isinstance(builds[0], Build) and builds[0].key == course.key
    assert builds[0].commit is None and builds[0].source == "analysis_envs/course"
    assert builds[0].as_dict()["created"] == builds[0].created.isoformat()


def test_file_refs_are_written_as_the_fileset(tmp_path):
    from portal.launch.base import write_fileset

    path = write_fileset(tmp_path, 3, [FileRef("a.root", "root://x//a.root", "adler32:00000001", 1)])
    assert json.loads(path.read_text()) == {
        "recid": 3,
        "files": [{"key": "a.root", "uri": "root://x//a.root", "checksum": "adler32:00000001", "size": 1}],
    }
