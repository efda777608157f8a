"""Reads an environment directory the way repo2docker does, using repo2docker's own buildpack classes."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portal.errors import Invalid
from portal.i18n import N_

# The files repo2docker reads (https://repo2docker.readthedocs.io/en/latest/config_files.html).
SPEC_FILES = (
    "environment.yml",
    "requirements.txt",
    "runtime.txt",
    "apt.txt",
    "postBuild",
    "start",
    "Dockerfile",
    "Pipfile",
    "Pipfile.lock",
    "setup.py",
    "Project.toml",
    "REQUIRE",
    "install.R",
    "DESCRIPTION",
    "default.nix",
)


@dataclass(frozen=True)
class EnvironmentSpec:
    """What a repository means to repo2docker: its buildpack and the spec files it will read."""

    repo_dir: Path
    config_dir: Path  # binder/ or .binder/ when present, else the repo root
    buildpack: str
    files: dict[str, bytes] = field(default_factory=dict)

    def content_hash(self) -> str:
        digest = hashlib.sha256(self.buildpack.encode())
        for name in sorted(self.files):
            digest.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(self.files[name]).digest())
        return digest.hexdigest()


def config_dir(repo_dir: Path) -> Path:
    # repo2docker: "binder/" wins over ".binder/"; having both is an error there too.
    binder, dot = repo_dir / "binder", repo_dir / ".binder"
    if binder.is_dir() and dot.is_dir():
        raise Invalid(
            N_("{name}: has both binder/ and .binder/; repo2docker refuses that, keep one"),
            name=repo_dir.name,
            field="repository",
        )
    for candidate in (binder, dot):
        if candidate.is_dir():
            return candidate
    return repo_dir


def detect_buildpack(repo_dir: Path) -> Any:
    """The repo2docker buildpack instance that would build ``repo_dir`` (same order as repo2docker)."""
    from repo2docker.app import Repo2Docker

    r2d = Repo2Docker()
    with contextlib.chdir(Path(repo_dir).resolve()):  # detect() inspects the current directory
        for cls in r2d.buildpacks:
            bp = cls(base_image=r2d.base_image)
            if bp.detect():
                break
        else:
            bp = r2d.default_buildpack(base_image=r2d.base_image)
    bp.platform = "linux/amd64"  # CondaBuildPack.render needs it set
    return bp


def read_spec(repo_dir: Path) -> EnvironmentSpec:
    repo_dir = Path(repo_dir).resolve()
    if not repo_dir.is_dir():
        raise Invalid(N_("environment directory {repo_dir} does not exist"), repo_dir=repo_dir, field="environment")
    cdir = config_dir(repo_dir)
    bp = detect_buildpack(repo_dir)
    files = {name: (cdir / name).read_bytes() for name in SPEC_FILES if (cdir / name).is_file()}
    return EnvironmentSpec(repo_dir=repo_dir, config_dir=cdir, buildpack=type(bp).__name__, files=files)


def render_dockerfile(repo_dir: Path) -> str:
    """The Dockerfile repo2docker would build (same as `jupyter-repo2docker --no-build`)."""
    repo_dir = Path(repo_dir).resolve()
    bp = detect_buildpack(repo_dir)
    with contextlib.chdir(repo_dir):  # render() reads the spec files relative to the current directory
        return str(bp.render({"NB_USER": "jovyan", "NB_UID": "1000"}))


def snapshot(spec: EnvironmentSpec) -> dict[str, object]:
    """The spec files as JSON, so a record version can be rebuilt with the environment it was published with."""
    return {
        "buildpack": spec.buildpack,
        "spec_hash": spec.content_hash(),
        "files": {name: base64.b64encode(body).decode() for name, body in sorted(spec.files.items())},
    }


def materialise(snap: dict[str, Any], repo_dir: Path) -> Path:
    """Writes a :func:`snapshot` back as a repository directory that reads as the same spec."""
    repo_dir.mkdir(parents=True, exist_ok=True)
    for name, body in dict(snap.get("files") or {}).items():
        if "/" in name or name.startswith("."):
            raise Invalid(N_("bad spec file name {name!r} in a pinned environment"), name=name, field="environment")
        (repo_dir / name).write_bytes(base64.b64decode(body))
    return repo_dir
