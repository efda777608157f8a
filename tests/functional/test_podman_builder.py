"""The podman builder for real: the base image made by mmdebstrap, both analysis environments as images (cached in
the checkout's image store between runs), an environment with apt.txt, postBuild and start whose effects show in
its container, the cache following the spec, and the specs the builder refuses.

Skips, naming what is missing, without podman, runc, mmdebstrap or root."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from portal.environments.builders import BuildFailed, BuiltEnvironment
from portal.environments.engine import Podman
from portal.environments.podman_builder import REPOSITORY, PodmanBuilder
from portal.environments.wheelhouse import requirement_lines
from portal.errors import Unavailable
from tests.conftest import ENVS_DIR
from tests.support.images import BUILD_TIMES, build, make_builder, require_podman

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def builder() -> PodmanBuilder:
    require_podman()
    return make_builder()


@pytest.fixture(scope="module")
def analysis_images(builder: PodmanBuilder) -> dict[str, BuiltEnvironment]:
    return {name: build(builder, ENVS_DIR / name)[1] for name in ("education", "hep-analysis")}


def installed(built: BuiltEnvironment) -> dict[str, str]:
    pairs = (line.split("==", 1) for line in built.record["packages"] if "==" in line)  # type: ignore[attr-defined]
    return {canonicalize_name(name): version for name, version in pairs}


def test_analysis_environments_are_images_holding_only_their_packages(
    builder: PodmanBuilder, analysis_images: dict[str, BuiltEnvironment]
) -> None:
    for name, built in analysis_images.items():
        assert built.image == f"localhost/portal-env:{built.key}" and built.python is None
        assert builder.podman.image(built.image) is not None
        packages = installed(built)
        for line in requirement_lines((ENVS_DIR / name / "requirements.txt").read_text()):
            wanted, version = line.split("==")
            assert packages.get(canonicalize_name(wanted)) == version, (name, line)
        assert {"jupyterhub", "jupyterlab"} <= packages.keys()
        assert "flask" not in packages  # the portal's own packages are not in an environment
        assert int(str(built.record["size"])) > 0
        probe = builder.podman.run(
            "run", "--rm", "--network", "none", built.image,
            "python", "-c", "import os, sys; print(os.getuid(), sys.prefix); import flask",
            check=False,
        )  # fmt: skip
        assert probe.stdout.split() == ["1000", "/opt/env"], probe.stdout + probe.stderr
        assert "No module named 'flask'" in probe.stderr
        # what a session's start imports is bytecode already (pip compiles at install; the container, started with
        # PYTHONDONTWRITEBYTECODE, would otherwise compile ~1000 modules at every start)
        start = builder.podman.run(
            "run", "--rm", "--network", "none", "--env", "PYTHONVERBOSE=1", built.image,
            "python", "-c", "import jupyterhub.singleuser.extension, jupyter_server.serverapp, jsonschema",
            check=False,
        )  # fmt: skip
        assert start.returncode == 0, start.stderr[-2000:]
        # verbose imports log "# code object from '<...>.pyc'" for bytecode, the bare source path when compiling
        loaded = [line for line in start.stderr.splitlines() if line.startswith("# code object from ")]
        from_source = [line for line in loaded if not line.endswith(".pyc'")]
        assert len(loaded) > 500 and not from_source, from_source[:5]
    print(f"image build times (s, 0 = cached): {BUILD_TIMES}")


def spec_repo(root: Path, marker: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.txt").write_text("rfc3987==1.3.8\n")
    (root / "apt.txt").write_text("# a Debian package the base does not have\njq\n")
    (root / "postBuild").write_text(f"#!/bin/sh\nset -e\necho {marker} > $HOME/.postbuild-marker\n")
    (root / "start").write_text('#!/bin/sh\nexport FROM_START=started\nexec "$@"\n')
    return root


def test_apt_postbuild_and_start_take_effect_and_the_cache_follows_the_spec(
    builder: PodmanBuilder, tmp_path: Path
) -> None:
    repo = spec_repo(tmp_path / "repo", "first")
    events, built = build(builder, repo, "apt+postBuild")
    assert events[-1].phase == "built"
    seen = builder.podman.run(
        "run", "--rm", "--network", "none", built.image,
        "sh", "-c", 'jq --version; cat ~/.postbuild-marker; echo "$FROM_START"; id -un; python -c "import rfc3987"',
        check=False,
    )  # fmt: skip
    assert seen.returncode == 0, seen.stderr
    lines = seen.stdout.split()
    assert lines[0].startswith("jq-") and lines[1:] == ["first", "started", "jovyan"], seen.stdout
    log = (built.path / "build.log").read_text()
    assert "COPY apt.txt /tmp/apt.txt" in log and built.record["builder"] == "podman"

    again, same = build(builder, repo, "apt+postBuild cached")
    assert [e.phase for e in again] == ["built"] and again[0].data["cached"] is True
    assert same.key == built.key and same.record["image_id"] == built.record["image_id"]

    spec_repo(repo, "second")  # a changed spec is a new image; the old one stays cached under its own key
    _events, changed = build(builder, repo, "apt+postBuild changed")
    assert changed.key != built.key and changed.image != built.image
    marker = builder.podman.run(
        "run", "--rm", "--network", "none", changed.image, "cat", "/home/jovyan/.postbuild-marker"
    )
    assert marker.stdout.strip() == "second"
    assert builder.cached(built.key) is not None

    # prune keeps what is in use (here: everything but the first build) and removes the rest with its record
    in_use = {str(n).rsplit(":", 1)[1] for i in builder.podman.images(REPOSITORY) for n in i.get("Names") or []}
    assert builder.prune(in_use - {built.key}) == [built.key]
    assert builder.cached(built.key) is None and not (builder.cache_dir / built.key).exists()
    assert builder.cached(changed.key) is not None


def portal(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "portal"), *args], capture_output=True, text=True, env=env)


def test_env_build_list_and_verify_report_the_image_and_its_drift(builder: PodmanBuilder, tmp_path: Path) -> None:
    envs = tmp_path / "envs"
    (envs / "tiny").mkdir(parents=True)
    (envs / "tiny" / "requirements.txt").write_text("rfc3987==1.3.8\n")
    env = {
        **os.environ,
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "PORTAL_ENVS_DIR": str(envs),
        "PORTAL_LAUNCH_BUILDER": "podman",
        "PORTAL_LAUNCH_BUILD_NETWORK": builder.network,
    }
    done = portal("env", "build", "tiny", env=env)
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip().splitlines()[-1].split()[1]
    listed = portal("env", "list", env=env)
    assert f"image localhost/portal-env:{key} (" in listed.stdout and "MB), build log " in listed.stdout, listed.stdout

    same = portal("env", "verify", "tiny", env=env)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no drift: the rebuild installs the same" in same.stdout

    # a pin made when another release was installed: the rebuild installs 1.3.8 today, which is drift
    image = builder.cache_dir / key / "image.json"
    kept = image.read_text()
    pinned = json.loads(kept)
    pinned["packages"] = [p.replace("rfc3987==1.3.8", "rfc3987==1.3.7") for p in pinned["packages"]]
    image.write_text(json.dumps(pinned))
    try:
        drift = portal("env", "verify", "tiny", env=env)
    finally:  # the build stays cached for the next run, as it was
        image.write_text(kept)
    assert drift.returncode == 1 and "DRIFT: 1 package(s) differ" in drift.stdout, drift.stdout + drift.stderr
    assert "rfc3987: 1.3.7 -> 1.3.8" in drift.stdout


@pytest.mark.parametrize(
    ("name", "body", "says"),
    [
        ("runtime.txt", "python-3.12\n", "gives Python 3.11 only"),
        ("environment.yml", "dependencies:\n  - numpy\n", "needs conda"),
    ],
)
def test_specs_the_base_cannot_give_are_refused_clearly(tmp_path: Path, name: str, body: str, says: str) -> None:
    (tmp_path / name).write_text(body)
    builder = PodmanBuilder(tmp_path / "images", network="none")
    with pytest.raises(BuildFailed, match=says):
        build(builder, tmp_path)
    assert not any((tmp_path / "images" / "builds").iterdir())  # nothing cached
    assert shutil.which("podman") is None or builder.podman.images("localhost/portal-env") == []


def test_a_store_podman_cannot_read_is_an_error_not_a_missing_image() -> None:
    require_podman()
    root = Path(tempfile.mkdtemp(prefix="pe-", dir="/var/tmp"))  # podman wants a runroot under 50 characters
    try:
        podman = Podman(root / "images")
        assert podman.image("localhost/portal-env:absent") is None  # a readable store without it
        # a damaged libpod database (as a store first met under another path): podman fails on every call
        (root / "images" / "storage" / "libpod" / "bolt_state.db").write_bytes(b"not a bolt database" * 100)
        with pytest.raises(Unavailable, match="podman cannot read its image store"):
            podman.image("localhost/portal-env:absent")
        # so does a runroot path podman refuses, which used to read as "no image" too
        with pytest.raises(Unavailable, match="runroot is longer than 50 characters"):
            Podman(root / ("x" * 60)).image("localhost/portal-env:absent")
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)  # podman's store holds root-only, read-only parts
