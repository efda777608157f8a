"""One contract for every environment builder that completes here: venv builds for real and the instant double
keeps the same contract. The podman builder's full test is tests/functional/test_podman_builder.py (its builds take
minutes); the repo2docker builder is exercised below as far as this machine allows: podman's Docker API answers,
the build starts from the right spec, and it fails clearly when its base image cannot be pulled (no registry)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

import pytest

from portal.environments.builders import (
    PHASES,
    Builder,
    BuildEvent,
    BuildFailed,
    BuiltEnvironment,
    Repo2DockerBuilder,
    VenvBuilder,
)
from portal.environments.doubles import InstantBuilder
from portal.environments.engine import DockerAPI
from portal.environments.spec import read_spec
from portal.errors import Invalid
from tests.support.images import make_builder, require_podman

CLICK = f"click=={metadata.version('click')}"  # in the portal's environment: the venv build needs no download
KINDS = {"venv": VenvBuilder, "instant": InstantBuilder}
# What each builder does not honour of a spec with apt.txt and postBuild.
UNSUPPORTED = {"venv": ["apt.txt", "postBuild"], "instant": ["apt.txt", "postBuild"]}


@pytest.fixture(params=sorted(KINDS))
def builder(request: pytest.FixtureRequest, tmp_path: Path) -> Builder:
    return KINDS[request.param](tmp_path / "builds")


def repository(path: Path, requirements: str = CLICK, **files: str) -> Path:
    path.mkdir(parents=True)
    (path / "requirements.txt").write_text(requirements + "\n")
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def run(builder: Builder, repo: Path, commit: str = "") -> tuple[list[BuildEvent], BuiltEnvironment]:
    *head, result = items = list(builder.build(repo, source_commit=commit))
    events = [e for e in head if isinstance(e, BuildEvent)]
    assert len(events) == len(head) and isinstance(result, BuiltEnvironment), items  # one result, and last
    return events, result


def test_keys_are_stable_and_depend_on_spec_commit_and_builder(builder: Builder, tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo")
    spec = read_spec(repo)
    key = builder.key(spec)
    assert re.fullmatch("[0-9a-f]{32}", key)
    assert key == builder.key(read_spec(repo)) == type(builder)(tmp_path / "other").key(spec)  # any instance agrees
    assert builder.key(spec, "0123abc") != key  # another commit of a repository
    other = repository(tmp_path / "moved", CLICK + "\nipykernel")
    assert builder.key(read_spec(other)) != key  # another spec
    others = [
        kind(tmp_path / "x").key(spec) for kind in (*KINDS.values(), Repo2DockerBuilder) if kind is not type(builder)
    ]
    assert key not in others  # another builder


def test_a_build_streams_phases_and_is_cached_afterwards(builder: Builder, tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo")
    key = builder.key(read_spec(repo))
    assert builder.cached(key) is None
    events, built = run(builder, repo)
    assert {e.phase for e in events} <= set(PHASES) and "building" in [e.phase for e in events]
    assert events[-1].phase == "built" and events[-1].data == {"key": key, "cached": False}
    assert built.key == key and built.builder == builder.name and built.path.is_dir()
    assert built.record["spec_hash"] == read_spec(repo).content_hash() and built.record["builder"] == builder.name

    hit = builder.cached(key)
    assert hit is not None and (hit.key, hit.path, hit.python, hit.image_built) == (
        built.key,
        built.path,
        built.python,
        built.image_built,
    )
    again, rebuilt = run(builder, repo)
    assert [(e.phase, e.data) for e in again] == [("built", {"key": key, "cached": True})]  # no building at all
    assert rebuilt == hit
    assert not list(builder.cache_dir.glob(".*partial"))


def test_the_result_runs_here(builder: Builder, tmp_path: Path) -> None:
    _events, built = run(builder, repository(tmp_path / "repo"))
    assert built.python is not None
    out = subprocess.run(
        [str(built.python), "-c", "import click; print(click.__version__)"], capture_output=True, text=True
    )
    assert out.returncode == 0 and f"click=={out.stdout.strip()}" == CLICK, out.stderr


def test_repo2docker_without_a_docker_api_fails_saying_what_to_set(tmp_path: Path) -> None:
    builder = Repo2DockerBuilder(tmp_path / "builds", docker_url="")
    builder.docker_url = ""  # whatever DOCKER_HOST says
    with pytest.raises(BuildFailed, match="needs a Docker API: set PORTAL_LAUNCH_DOCKER_URL"):
        run(builder, repository(tmp_path / "repo"))
    assert not list(builder.cache_dir.iterdir())


def test_repo2docker_builds_against_podmans_docker_api_and_fails_clearly_without_its_base_image(
    tmp_path: Path,
) -> None:
    """What this machine allows: the engine answers, repo2docker starts on the spec it was given, and its build
    cannot complete (no buildx-capable CLI, no registry for its base image), reported as a failed build. The
    build itself, the push and the image's use by KubeSpawner are not exercised here."""
    require_podman()
    podman = make_builder().podman
    api = DockerAPI(podman, Path(tempfile.mkdtemp(prefix="r2d-", dir="/var/tmp")) / "podman.sock").start()
    try:
        builder = Repo2DockerBuilder(tmp_path / "builds", docker_url=api.url)
        repo = repository(tmp_path / "repo", "rfc3987==1.3.8")
        events: list[BuildEvent] = []
        with pytest.raises(BuildFailed) as failed:
            for item in builder.build(repo):
                assert isinstance(item, BuildEvent), "repo2docker claimed a build here"
                events.append(item)
    finally:
        api.stop()
        shutil.rmtree(api.socket.parent, ignore_errors=True)
    messages = "\n".join(e.message for e in events)
    assert f"container engine at {api.url}: Podman Engine" in messages  # the engine answered
    assert "PythonBuildPack -> localhost/portal-env-r2d:" in messages  # from the spec it was given
    assert "repo2docker built no image" in str(failed.value)
    assert f"Using local repo {repo}" in messages
    # Where it stops here: repo2docker 2026 builds through `<cli> buildx build`, and podman 4.3's CLI has no
    # `buildx version` (exit 125), so it stops before pulling its base image; with a buildx-capable CLI it would
    # stop at the pull of docker.io/library/buildpack-deps (no registry reachable). Either way: a failed build.
    assert "buildx" in str(failed.value) or "buildpack-deps" in str(failed.value), failed.value
    assert not list(builder.cache_dir.iterdir())  # nothing cached, nothing claimed


def test_what_a_builder_does_not_honour_is_reported_and_announced(builder: Builder, tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", **{"apt.txt": "libxml2\n", "postBuild": "#!/bin/sh\necho hi\n"})
    problems = builder.unsupported(read_spec(repo))
    for name in UNSUPPORTED[builder.name]:
        assert any(name in p for p in problems), (name, problems)
    assert bool(problems) is bool(UNSUPPORTED[builder.name])
    events, built = run(builder, repo)
    warnings = [e.message for e in events if e.data.get("unsupported")]
    assert warnings == [f"warning: {p}" for p in problems]
    assert built.record["unsupported"] == problems


def test_a_repository_that_is_no_spec_is_refused_and_nothing_is_cached(builder: Builder, tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo")
    (repo / "binder").mkdir()
    (repo / ".binder").mkdir()
    with pytest.raises(Invalid, match="both binder/ and .binder/"):
        run(builder, repo)
    assert not builder.cache_dir.exists() or not list(builder.cache_dir.iterdir())


def test_a_failed_venv_build_says_what_failed_and_caches_nothing(tmp_path: Path) -> None:
    builder = VenvBuilder(tmp_path / "builds")
    repo = repository(tmp_path / "repo", "not a requirement (((")
    with pytest.raises(BuildFailed, match="pip install failed"):
        run(builder, repo)
    assert builder.cached(builder.key(read_spec(repo))) is None
    assert not list(builder.cache_dir.iterdir())  # the partial build was removed
