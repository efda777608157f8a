"""The podman builder: a repo2docker spec becomes an OCI image, built here without an image registry.

repo2docker's own buildpack detection says what the repository is (:func:`portal.environments.spec.read_spec`);
this module renders a Containerfile for what the embedded base can honour (requirements.txt, setup.py or
pyproject.toml, apt.txt, runtime.txt naming the base's Python, postBuild, start; a Dockerfile is built as is) and
refuses the rest with a message saying why. pip installs from the portal's wheelhouse first (offline) and from the
package index only for what it lacks. Images are tagged by the build key, so the same spec is built once.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portal.environments.base_image import PYTHON, SUITE, UID, USER, VENV, BaseImageFailed, base_tag, ensure_base_image
from portal.environments.builders import Builder, BuildEvent, BuildFailed, BuiltEnvironment
from portal.environments.engine import DEFAULT_IMAGES_DIR, Podman
from portal.environments.spec import EnvironmentSpec, read_spec
from portal.environments.wheelhouse import DEFAULT_WHEELHOUSE
from portal.errors import Unavailable
from portal.i18n import N_

if TYPE_CHECKING:
    from portal.settings import Settings

REPOSITORY = "localhost/portal-env"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
# buildpacks whose spec needs something the embedded base cannot give (conda, R, Julia, Nix, pipenv)
REFUSED = {
    "environment.yml": "environment.yml needs conda, which this machine cannot reach; list the packages in "
    "requirements.txt (and Debian ones in apt.txt), or use the repo2docker builder on a cluster",
    "Pipfile": "Pipfile (pipenv) is not supported by the podman builder; use requirements.txt",
    "Project.toml": "Julia (Project.toml) is not supported by the podman builder",
    "REQUIRE": "Julia (REQUIRE) is not supported by the podman builder",
    "install.R": "R (install.R) is not supported by the podman builder",
    "DESCRIPTION": "R (DESCRIPTION) is not supported by the podman builder",
    "default.nix": "Nix (default.nix) is not supported by the podman builder",
}


def image_ref(key: str) -> str:
    return f"{REPOSITORY}:{key}"


def refusals(spec: EnvironmentSpec) -> list[str]:
    """Why the podman builder will not build ``spec`` (empty: it will)."""
    if "Dockerfile" in spec.files:
        return []  # built as is: its own FROM and RUN steps decide
    problems = [why for name, why in REFUSED.items() if name in spec.files]
    if "runtime.txt" in spec.files:
        wanted = spec.files["runtime.txt"].decode().strip()
        if wanted != f"python-{PYTHON}" and not wanted.startswith(f"python-{PYTHON}."):
            problems.append(
                f"runtime.txt asks for {wanted!r}, but the base image (Debian {SUITE}) gives Python {PYTHON} only: "
                f"write python-{PYTHON} in runtime.txt, or use the repo2docker builder on a cluster"
            )
    return problems


def render_containerfile(spec: EnvironmentSpec, base: str) -> str:
    """The Containerfile of ``spec`` on ``base`` (for specs without a Dockerfile). The repository is copied into
    the home of ``jovyan`` as repo2docker does; everything after apt runs as ``jovyan``."""
    cfg = spec.config_dir.relative_to(spec.repo_dir).as_posix()
    cfg_path = "" if cfg == "." else f"{cfg}/"
    home = f"/home/{USER}"
    lines = [f"FROM {base}", f'LABEL org.opencontainers.image.title="portal environment ({spec.buildpack})"']
    if "apt.txt" in spec.files:
        lines += [
            "USER root",
            f"COPY {cfg_path}apt.txt /tmp/apt.txt",
            # apt.txt: one Debian package per line, comments allowed, as repo2docker reads it
            "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
            "$(sed -e 's/#.*//' /tmp/apt.txt) && rm -rf /var/lib/apt/lists/* /tmp/apt.txt",
            f"USER {USER}",
        ]
    lines.append(f"COPY --chown={UID}:{UID} . {home}/")
    # offline from the wheelhouse first; the index (trusting the host's CA bundle) only for what it lacks
    pip = "pip install --no-cache-dir"
    offline = f"{pip} --no-index --find-links /wheelhouse"
    online = f"PIP_CERT=/run/host-ca.crt {pip} --find-links /wheelhouse"
    if "requirements.txt" in spec.files:
        req = shlex.quote(f"{cfg_path}requirements.txt")
        lines.append(f"RUN {offline} -r {req} || {online} -r {req}")
    if (spec.repo_dir / "setup.py").is_file() or (spec.repo_dir / "pyproject.toml").is_file():
        lines.append(f"RUN {offline} . || {online} .")
    if "postBuild" in spec.files:
        script = shlex.quote(f"./{cfg_path}postBuild")
        lines.append(f"RUN chmod +x {script} && {script}")
    if "start" in spec.files:
        lines += [
            f"RUN chmod +x {shlex.quote(f'{home}/{cfg_path}start')}",
            # repo2docker's contract: `start` runs before the server and ends with exec "$@"
            f'ENTRYPOINT ["/usr/bin/tini", "--", "{home}/{cfg_path}start"]',
            'CMD ["jupyterhub-singleuser"]',
        ]
    return "\n".join(lines) + "\n"


#: buildah's layer-cache lookup fails the whole build when an image it listed loses its top layer before it looks
#: (another build's intermediate image, or a prune, removed at that moment): containers/buildah#5674, fixed by
#: ignoring the error only in buildah 1.43 (2026). The failed lookup committed nothing (the steps before it came
#: from the cache), so the build is simply run again.
STALE_LAYER = "getting top layer info: layer not known"
STALE_LAYER_ATTEMPTS = 3
RESTART = "(an image was removed while podman looked for cached layers: building again)"


def build_output(stream: Callable[[], Iterable[str]]) -> Iterator[str]:
    """The lines of a ``podman build`` (its last one ``exit N``), run again up to STALE_LAYER_ATTEMPTS times when
    it failed only on buildah's stale-layer race; RESTART separates the attempts."""
    for attempt in range(STALE_LAYER_ATTEMPTS):
        lines: deque[str] = deque(maxlen=30)  # the error is among the last lines; a log can be long
        for line in stream():
            lines.append(line)
            yield line
        if list(lines)[-1:] == ["exit 0"] or not any(STALE_LAYER in line for line in lines):
            return
        if attempt + 1 < STALE_LAYER_ATTEMPTS:
            yield RESTART


class PodmanBuilder(Builder):
    """Builds repo2docker specs into OCI images with rootful podman (runc, a private store under ``images_dir``).

    The result's ``image`` is the image reference a container spawner runs; ``python`` is None (nothing on the
    host runs it). Build records live beside the image store, so every portal of this installation shares the
    cache; a record whose image is gone is no cache hit.
    """

    name = "podman"
    version = "1"

    def __init__(
        self,
        images_dir: Path = DEFAULT_IMAGES_DIR,
        wheelhouse: Path = DEFAULT_WHEELHOUSE,
        network: str = "host",
    ) -> None:
        super().__init__(Path(images_dir) / "builds")
        self.podman = Podman(Path(images_dir))
        self.wheelhouse = Path(wheelhouse)
        self.network = network or "host"

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> PodmanBuilder:
        images = Path(settings.launch_images_dir) if settings.launch_images_dir else DEFAULT_IMAGES_DIR
        return cls(images, DEFAULT_WHEELHOUSE, settings.launch_build_network)

    def key(self, spec: EnvironmentSpec, source_commit: str = "") -> str:
        # the base image is part of what a spec builds into: a new Jupyter pin is a new key
        return super().key(spec, f"{source_commit}:{base_tag()}")

    def cached(self, key: str) -> BuiltEnvironment | None:
        hit = super().cached(key)
        if hit is None or self.podman.image(image_ref(key)) is None:
            return None
        return hit

    def _result(self, key: str, record: dict[str, object]) -> BuiltEnvironment:
        path = self.cache_dir / key
        image = path / "image.json"
        return BuiltEnvironment(
            key=key,
            builder=self.name,
            path=path,
            python=None,
            image_built=True,
            record={**record, **(json.loads(image.read_text()) if image.is_file() else {})},
            image=image_ref(key),
        )

    def build_argv(self, spec: EnvironmentSpec, workdir: Path, tag: str, *extra: str) -> list[str]:
        """``podman build`` arguments for ``spec`` tagged ``tag`` (its Containerfile written into ``workdir``)."""
        argv = ["build", *extra, "--network", self.network, "--volume", f"{self.wheelhouse}:/wheelhouse:ro"]
        if HOST_CA.is_file():
            argv += ["--volume", f"{HOST_CA}:/run/host-ca.crt:ro"]
        argv += ["--label", f"portal.spec_hash={spec.content_hash()}", "-t", tag]
        if "Dockerfile" in spec.files:
            return [*argv, "-f", str(spec.config_dir / "Dockerfile"), str(spec.repo_dir)]
        containerfile = workdir / "Containerfile"
        containerfile.write_text(render_containerfile(spec, base_tag()))
        return [*argv, "-f", str(containerfile), str(spec.repo_dir)]

    def rebuild_packages(self, repo_dir: Path, workdir: Path) -> list[str]:
        """Builds ``repo_dir`` again from scratch (no layer cache; the base image is reused) under a throw-away
        tag and returns its ``pip freeze``: what the same spec installs today."""
        spec = read_spec(repo_dir)
        problems = refusals(spec)
        if problems:
            raise BuildFailed(N_("the podman builder refuses this spec: {problems}"), problems="; ".join(problems))
        self.podman.check()
        for _line in ensure_base_image(self.podman, self.wheelhouse, self.network):
            pass
        tag = f"localhost/portal-env-verify:{spec.content_hash()[:16]}"
        workdir.mkdir(parents=True, exist_ok=True)
        out = list(self.podman.stream(*self.build_argv(spec, workdir, tag, "--no-cache")))
        if out[-1] != "exit 0":
            raise BuildFailed(N_("the rebuild failed:\n{log}"), log="\n".join(out[-15:]))
        try:
            return freeze(self.podman, tag)
        finally:
            self.podman.run("rmi", "-f", tag, check=False)

    def prune(self, keep: set[str]) -> list[str]:
        """Removes the images (and build records) whose key is not in ``keep``, then unused layers; returns the
        removed keys."""
        removed = []
        for image in self.podman.images(REPOSITORY):
            for name in image.get("Names") or []:  # type: ignore[attr-defined]
                key = str(name).rsplit(":", 1)[-1]
                if str(name).startswith(REPOSITORY + ":") and key not in keep:
                    self.podman.run("rmi", "-f", str(name), check=False)
                    shutil.rmtree(self.cache_dir / key, ignore_errors=True)
                    removed.append(key)
        for record in self.cache_dir.glob("*/build.json") if self.cache_dir.is_dir() else []:
            key = record.parent.name
            if key not in keep and self.podman.image(image_ref(key)) is None:  # a record whose image is gone
                shutil.rmtree(record.parent, ignore_errors=True)
        self.podman.run("image", "prune", "-f", check=False)
        return removed

    def _build(self, spec: EnvironmentSpec, workdir: Path, target: Path) -> Iterator[BuildEvent]:
        problems = refusals(spec)
        if problems:
            raise BuildFailed(N_("the podman builder refuses this spec: {problems}"), problems="; ".join(problems))
        self.podman.check()
        key = target.name
        log_path = workdir / "build.log"
        with log_path.open("w") as log:
            try:
                for line in ensure_base_image(self.podman, self.wheelhouse, self.network):
                    log.write(line + "\n")
                    yield BuildEvent("building", line)
            except (BaseImageFailed, subprocess.CalledProcessError, Unavailable) as exc:
                if isinstance(exc, Unavailable):  # its own message id: still translated
                    raise BuildFailed.like(exc) from exc
                detail = getattr(exc, "stderr", "") or ""
                raise BuildFailed(
                    N_("the base image could not be built: {reason}"), reason=f"{exc} {detail}".strip()
                ) from exc
            tail: list[str] = []
            argv = self.build_argv(spec, workdir, image_ref(key))
            for line in build_output(lambda: self.podman.stream(*argv)):
                log.write(line + "\n")
                tail = [] if line == RESTART else [*tail[-25:], line]
                if not line.startswith("exit "):
                    yield BuildEvent("building", line)
        if tail[-1] != "exit 0":
            raise BuildFailed(
                N_("podman build failed ({status}); the end of its log:\n{log}"),
                status=tail[-1],
                log="\n".join(tail[:-1][-15:]),
            )
        info = self.podman.image(image_ref(key)) or {}
        packages = freeze(self.podman, image_ref(key))
        (workdir / "image.json").write_text(
            json.dumps(
                {
                    "image": image_ref(key),
                    "image_id": info.get("Id"),
                    "digest": info.get("Digest"),
                    "size": info.get("Size"),
                    "packages": packages,
                },
                indent=2,
            )
        )
        yield BuildEvent.said(
            "building",
            N_("image {image} ({size}, {count} packages)"),
            image=image_ref(key),
            size=_mb(info.get("Size")),
            count=len(packages),
        )


def _mb(size: object) -> str:
    return f"{int(size) / 1e6:.0f} MB" if isinstance(size, int | float) else "size unknown"


def image_info(built: BuiltEnvironment) -> dict[str, Any]:
    """What the build wrote about its image (id, digest, size, pip freeze); empty for other builders."""
    path = built.path / "image.json"
    return dict(json.loads(path.read_text())) if path.is_file() else {}


def freeze(podman: Podman, image: str) -> list[str]:
    """``pip freeze --all`` of the environment in ``image`` (empty when it has no /opt/env, e.g. a Dockerfile's)."""
    proc = podman.run(
        "run", "--rm", "--network", "none", "--entrypoint", f"{VENV}/bin/python", image,
        "-m", "pip", "freeze", "--all", check=False,
    )  # fmt: skip
    return sorted(proc.stdout.split()) if proc.returncode == 0 else []
