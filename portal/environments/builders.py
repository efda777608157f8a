"""The environment builder seam: its contract (:class:`Builder`), the events builds stream, and the two real
builders, venv (embedded) and repo2docker (production). Builds are cached by a content key."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portal.environments.spec import EnvironmentSpec, read_spec, render_dockerfile
from portal.environments.wheelhouse import DEFAULT_WHEELHOUSE, requirement_lines
from portal.errors import Notice, PortalError, Translate, json_params, stored_message
from portal.i18n import N_

if TYPE_CHECKING:
    from portal.settings import Settings

log = logging.getLogger(__name__)

# BinderHub's phase names, so Binder clients read our event stream unchanged.
PHASES = ("waiting", "fetching", "building", "built", "launching", "ready", "failed")
#: the key under which an event keeps its message as a message id and values (:meth:`PortalError.stored`): events
#: are written by workers, with no reader and so no language; the web translates them (:func:`localized_event`)
TEXT_KEY = "_text"


@dataclass(frozen=True)
class BuildEvent:
    """One step of a build or launch: a BinderHub ``phase`` (one of :data:`PHASES`), a line for people to read,
    and data for programs (``key``, ``cached``, ``commit``, ``url`` ...) merged into the event's JSON. ``text``:
    the line as a message id and values, when it is the portal's own sentence (a failure) rather than a tool's."""

    phase: str
    message: str
    data: dict[str, object] = field(default_factory=dict)
    text: dict[str, Any] | None = None

    @classmethod
    def said(cls, phase: str, message: str, data: dict[str, object] | None = None, **values: Any) -> BuildEvent:
        """An event whose line is the portal's own sentence: ``message`` a message id (``N_``) filled from
        ``values`` (the English line), kept with them so a reader sees it in their language."""
        english = message.format(**values) if values else message
        return cls(phase, english, dict(data or {}), {"id": message, "params": json_params(values)})

    @classmethod
    def failure(cls, error: PortalError, *, named: bool = False, phase: str = "failed") -> BuildEvent:
        """The event saying ``error`` (in English, with its message id kept); ``named``: prefixed with the error's
        class name, as the launch stream says it ("BuildFailed: ...")."""
        name = type(error).__name__ if named else ""
        text = {**error.stored(), **({"error": name} if name else {})}
        return cls(phase, f"{name}: {error.message}" if name else error.message, text=text)

    def as_dict(self) -> dict[str, object]:
        return {"phase": self.phase, "message": self.message, **self.data, **self.stored_text()}

    def stored_text(self) -> dict[str, object]:
        """What a row's JSON ``data`` keeps of ``text`` (nothing when the message is only text)."""
        return {TEXT_KEY: self.text} if self.text else {}

    @classmethod
    def from_row(cls, phase: str, message: str, data: dict[str, Any] | None) -> BuildEvent:
        """The event a row (``phase``, ``message``, ``data`` as :meth:`stored_text` added to it) was written from."""
        data = dict(data or {})
        text = data.pop(TEXT_KEY, None)
        return cls(phase, message, data, text if isinstance(text, dict) else None)


def localized_event(event: dict[str, Any], translate: Translate) -> dict[str, Any]:
    """``event`` (an :meth:`BuildEvent.as_dict`) as a reader gets it: its message through ``translate`` when it was
    kept as a message id (tools' own lines stay as they were), without the stored form."""
    shown = {key: value for key, value in event.items() if key != TEXT_KEY}
    text = event.get(TEXT_KEY)
    if isinstance(text, dict) and text.get("id"):
        shown["message"] = stored_message(text, translate)  # "BuildFailed: ..." with the class name it keeps
    return shown


OFF_WHEELHOUSE = N_("not everything is in the local wheelhouse; using the package index")


@dataclass(frozen=True)
class BuiltEnvironment:
    """A finished build. ``python`` is the interpreter a session runs on the host, ``image`` the image a session
    runs in a container (neither: nothing runnable was built on this machine); ``record`` is the build's
    ``build.json``."""

    key: str
    builder: str
    path: Path  # venv prefix (VenvBuilder) or the directory holding the rendered Dockerfile
    python: Path | None
    image_built: bool
    record: dict[str, object]
    image: str = ""  # the OCI image a container spawner runs (podman builder); empty: none


class BuildFailed(PortalError):
    """A build that did not finish; the message says what failed and what to try. Raised in workers, with no reader:
    the message is a message id (``N_``) and values (a tool's log as a value of its own, never translated), kept
    with the build and the launch's events so pages show it in the reader's language."""

    title = N_("Build failed")

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> BuildFailed:
        """The failure a build row kept (:meth:`PortalError.stored`), to raise again in the launch following it."""
        return cls(str(stored.get("id") or ""), **dict(stored.get("params") or {}))


def builds_dir(settings: Settings) -> Path:
    """Where builders keep their builds, one directory per key: ``<var_dir>/environments/builds``."""
    return Path(settings.var_dir) / "environments" / "builds"


class Builder:
    """Turns a repository holding repo2docker spec files into a runnable environment, cached by a content key.

    A builder is registered by name in the ``portal.builders`` entry-point group and chosen by
    ``PORTAL_LAUNCH_BUILDER``. Subclasses set ``name`` and ``version`` (bump it when the same spec would build
    differently) and implement :meth:`_build` and :meth:`_result`; :meth:`build` keeps the cache: a build is
    written to a partial directory and renamed into place whole, so a crash never leaves a half build cached.
    """

    name = "builder"
    version = "1"

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> Builder:
        """The builder with its cache under ``var_dir`` (:func:`builds_dir`)."""
        return cls(builds_dir(settings))

    def key(self, spec: EnvironmentSpec, source_commit: str = "") -> str:
        """The build's cache key (32 hex digits): the same for the same builder, version, commit and spec files,
        different when any of them changes."""
        digest = hashlib.sha256(f"{self.name}:{self.version}:{source_commit}:{spec.content_hash()}".encode())
        return digest.hexdigest()[:32]

    def unsupported(self, spec: EnvironmentSpec) -> list[Notice]:
        """What of ``spec`` this builder will not honour, one sentence each (empty: all of it); a build goes on
        and repeats each as a ``warning:`` event."""
        return []

    def cached(self, key: str) -> BuiltEnvironment | None:
        """The finished build under ``key``, or None when there is none."""
        record_path = self.cache_dir / key / "build.json"
        if not record_path.is_file():
            return None
        record = json.loads(record_path.read_text())
        return self._result(key, record)

    def _result(self, key: str, record: dict[str, object]) -> BuiltEnvironment:
        raise NotImplementedError

    def recorded(self, key: str, record: dict[str, object]) -> BuiltEnvironment:
        """The build ``key`` as another process of this builder recorded it (its ``build.json``, kept in the
        database), for a process whose own cache lacks it: an image in a registry runs from anywhere; a host path
        (venv) only where that process's ``var_dir`` is shared."""
        return self._result(key, record)

    def build(self, repo_dir: Path, *, source_commit: str = "") -> Iterator[BuildEvent | BuiltEnvironment]:
        """Builds ``repo_dir`` (or finds it in the cache): yields :class:`BuildEvent` s, then the
        :class:`BuiltEnvironment` last. A cached key yields a single ``built`` event (``cached`` True) and no
        ``building`` event. Raises :class:`BuildFailed` (nothing is cached) or :class:`portal.errors.Invalid`
        for a repository that is not a spec."""
        spec = read_spec(repo_dir)
        key = self.key(spec, source_commit)
        hit = self.cached(key)
        if hit is not None:
            yield from self._reuse(hit, key)
            return
        with self._build_lock(key):
            # another process (a second worker, the CLI, a parallel test) may have built it while we waited
            hit = self.cached(key)
            if hit is not None:
                yield from self._reuse(hit, key)
                return
            yield from self._build_locked(spec, key, source_commit)

    def _reuse(self, hit: BuiltEnvironment, key: str) -> Iterator[BuildEvent | BuiltEnvironment]:
        cached = N_("using cached build {key} ({builder})")
        yield BuildEvent.said("built", cached, {"key": key, "cached": True}, key=key, builder=self.name)
        yield hit

    @contextlib.contextmanager
    def _build_lock(self, key: str) -> Iterator[None]:
        """Holds an exclusive lock on ``key`` across processes sharing this cache: without it, two builds of one
        spec share the partial directory, and each removes what the other is writing. The lock files live next
        to the cache, not in it, so the cache holds only builds."""
        locks = self.cache_dir.with_name(self.cache_dir.name + ".locks")
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / f"{key}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _build_locked(
        self, spec: EnvironmentSpec, key: str, source_commit: str
    ) -> Iterator[BuildEvent | BuiltEnvironment]:
        for problem in self.unsupported(spec):
            said = {"key": key, "unsupported": True}
            yield BuildEvent.said("building", N_("warning: {problem}"), said, problem=problem)
        yield BuildEvent.said(
            "building",
            N_("building {buildpack} environment with {builder} (key {key})"),
            {"key": key},
            buildpack=spec.buildpack,
            builder=self.name,
            key=key,
        )
        target = self.cache_dir / key
        partial = self.cache_dir / f".{key}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        started = time.monotonic()
        try:
            yield from self._build(spec, partial, target)
        except BuildFailed:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        record: dict[str, object] = {
            "key": key,
            "builder": self.name,
            "builder_version": self.version,
            "buildpack": spec.buildpack,
            "source": str(spec.repo_dir),
            "source_commit": source_commit,
            "spec_files": sorted(spec.files),
            "spec_hash": spec.content_hash(),
            "seconds": round(time.monotonic() - started, 3),
            "unsupported": self.unsupported(spec),
        }
        (partial / "build.json").write_text(json.dumps(record, indent=2))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
        yield BuildEvent.said(
            "built", N_("built {key} in {seconds} s"), {"key": key, "cached": False}, key=key, seconds=record["seconds"]
        )
        yield self._result(key, record)

    def _build(self, spec: EnvironmentSpec, workdir: Path, target: Path) -> Iterator[BuildEvent]:
        """Builds ``spec`` into ``workdir`` (renamed to ``target`` afterwards), yielding progress events;
        raises :class:`BuildFailed` saying what failed and what to try."""
        raise NotImplementedError


class VenvBuilder(Builder):
    """Embedded default: a venv that sees the portal's own Jupyter stack and pip-installs requirements.txt.

    The venv links the base interpreter's site-packages through a .pth file (``--system-site-packages`` would
    only reach the *system* interpreter, not the portal's venv), so pinned packages already present are
    satisfied without download and a build takes seconds.
    """

    name = "venv"
    version = "2"  # 2: the base Jupyter config and data (server extensions, JupyterLab's assets) are linked

    def __init__(self, cache_dir: Path, wheelhouse: Path = DEFAULT_WHEELHOUSE) -> None:
        super().__init__(cache_dir)
        self.wheelhouse = Path(wheelhouse)

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> Builder:
        log.warning(
            "environment builder `venv`: sessions are NOT ISOLATED (they see the portal's packages and run on the "
            "host); use PORTAL_LAUNCH_BUILDER=podman with PORTAL_LAUNCH_SPAWNER=docker where podman runs"
        )
        return cls(builds_dir(settings))

    def unsupported(self, spec: EnvironmentSpec) -> list[Notice]:
        problems = []
        if "Dockerfile" in spec.files:
            problems.append(Notice(N_("Dockerfile is ignored by the venv builder (use the repo2docker builder)")))
        if "apt.txt" in spec.files:
            problems.append(Notice(N_("apt.txt packages are not installed by the venv builder (no system packages)")))
        if "postBuild" in spec.files:
            problems.append(Notice(N_("postBuild is not run by the venv builder (it would run as root here)")))
        if "environment.yml" in spec.files:
            problems.append(Notice(N_("environment.yml: only its pip section is installed; conda packages are not")))
        if "runtime.txt" in spec.files:
            wanted = spec.files["runtime.txt"].decode().strip()
            have = f"python-{sys.version_info.major}.{sys.version_info.minor}"
            if wanted.startswith("python-") and not wanted.startswith(have):
                asked = N_("runtime.txt asks for {wanted}; the venv builder uses {have}")
                problems.append(Notice(asked, wanted=wanted, have=have))
        return problems

    def _result(self, key: str, record: dict[str, object]) -> BuiltEnvironment:
        path = self.cache_dir / key
        return BuiltEnvironment(
            key=key, builder=self.name, path=path, python=path / "bin" / "python", image_built=False, record=record
        )

    def _build(self, spec: EnvironmentSpec, workdir: Path, target: Path) -> Iterator[BuildEvent]:
        venv = workdir
        self._run([sys.executable, "-m", "venv", "--without-pip", str(venv)], "creating the venv")
        site = Path(
            subprocess.check_output(
                [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                text=True,
            ).strip()
        )
        (site / "_portal_base.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        # Jupyter finds server extensions (JupyterLab, terminals) and JupyterLab's assets under sys.prefix, which
        # is now the venv's: without these links the session would serve no /lab.
        for sub in ("etc/jupyter", "share/jupyter"):
            base = Path(sys.prefix) / sub
            if base.is_dir() and not (venv / sub).exists():
                (venv / sub).parent.mkdir(parents=True, exist_ok=True)
                (venv / sub).symlink_to(base, target_is_directory=True)
        yield BuildEvent.said("building", N_("venv created; base Jupyter stack linked"))
        requirements = _requirements(spec)
        if requirements:
            req_file = venv / "portal-requirements.txt"
            req_file.write_text("\n".join(requirements) + "\n")
            yield BuildEvent.said("building", N_("pip install {count} requirement(s)"), count=len(requirements))
            # The base interpreter's pip installs into the new venv's prefix (it has no pip of its own).
            pip = [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-r",
                str(req_file),
            ]
            try:  # offline first: the portal's packages plus the wheelhouse usually hold everything
                out = self._run([*pip, "--no-index", "--find-links", str(self.wheelhouse)], "pip install")
            except BuildFailed:
                yield BuildEvent.said("building", OFF_WHEELHOUSE)
                out = self._run([*pip, "--find-links", str(self.wheelhouse)], "pip install")
            for line in out.splitlines()[-20:]:
                yield BuildEvent("building", line)

    @staticmethod
    def _run(argv: list[str], what: str) -> str:
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
            raise BuildFailed(
                N_(
                    "{what} failed (exit {code}):\n{log}\n"
                    "Check the pinned versions exist for this Python, or fix the spec file."
                ),
                what=what,
                code=proc.returncode,
                log=tail,
            )
        return proc.stdout + proc.stderr


class IsolatedVenvBuilder(VenvBuilder):
    """A venv for running analyses, not sessions: it sees only the distributions its requirements need (their
    closure, linked one by one from the portal's environment when the installed version satisfies the pin), not
    the portal's own packages (Flask, SQLAlchemy, the portal itself); what the portal lacks is pip-installed from
    the wheelhouse. Still on the host (no container): the isolation is of imports, not of the system."""

    name = "venv-isolated"
    version = "1"

    def unsupported(self, spec: EnvironmentSpec) -> list[Notice]:
        return [p for p in super().unsupported(spec) if "postBuild" not in p]

    def _build(self, spec: EnvironmentSpec, workdir: Path, target: Path) -> Iterator[BuildEvent]:
        from portal.environments.closure import link_closure

        venv = workdir
        self._run([sys.executable, "-m", "venv", "--without-pip", str(venv)], "creating the venv")
        site = Path(
            subprocess.check_output(
                [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                text=True,
            ).strip()
        )
        linked, missing = link_closure(_requirements(spec), venv / "linked")
        (site / "_portal_linked.pth").write_text(str(target / "linked") + "\n")  # the path it has once renamed
        yield BuildEvent.said(
            "building", N_("venv created; {count} distribution(s) linked from the portal's"), count=len(linked)
        )
        if missing:
            names = ", ".join(missing)
            pip_line = N_("pip install {count} requirement(s): {names}")
            yield BuildEvent.said("building", pip_line, count=len(missing), names=names)
            pip = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--target", str(site)]
            try:
                self._run([*pip, "--no-index", "--find-links", str(self.wheelhouse), *missing], "pip install")
            except BuildFailed:
                yield BuildEvent.said("building", OFF_WHEELHOUSE)
                self._run([*pip, "--find-links", str(self.wheelhouse), *missing], "pip install")


def _requirements(spec: EnvironmentSpec) -> list[str]:
    if "requirements.txt" in spec.files:
        return requirement_lines(spec.files["requirements.txt"].decode())
    if "environment.yml" in spec.files:
        import yaml

        env = yaml.safe_load(spec.files["environment.yml"]) or {}
        for dep in env.get("dependencies") or []:
            if isinstance(dep, dict) and "pip" in dep:
                return [str(p) for p in dep["pip"]]
    return []


class Repo2DockerBuilder(Builder):
    """Production: repo2docker's own build (its Python API, in a child process) against a Docker API, pushed to
    ``registry`` when one is set; the result's ``image`` is what a container spawner (KubeSpawner's
    ``user_options["image"]``) runs. A build succeeds only when the engine holds (or the registry received) the
    image; every other outcome is :class:`BuildFailed` saying what happened."""

    name = "repo2docker"
    version = "2"  # 2: real builds (1 only rendered the Dockerfile)

    def __init__(self, cache_dir: Path, docker_url: str = "", registry: str = "") -> None:
        super().__init__(cache_dir)
        self.docker_url = docker_url or os.environ.get("DOCKER_HOST", "")
        self.registry = registry.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> Builder:
        return cls(builds_dir(settings), settings.launch_docker_url, settings.launch_registry)

    def image_ref(self, key: str) -> str:
        return f"{self.registry}/portal-env:{key}" if self.registry else f"localhost/portal-env-r2d:{key}"

    def _result(self, key: str, record: dict[str, object]) -> BuiltEnvironment:
        return BuiltEnvironment(
            key=key,
            builder=self.name,
            path=self.cache_dir / key,
            python=None,
            image_built=True,
            record=record,
            image=self.image_ref(key),
        )

    def _build(self, spec: EnvironmentSpec, workdir: Path, target: Path) -> Iterator[BuildEvent]:
        import docker
        import repo2docker

        if not self.docker_url:
            raise BuildFailed(
                N_(
                    "the repo2docker builder needs a Docker API: set PORTAL_LAUNCH_DOCKER_URL (or DOCKER_HOST), e.g. "
                    "unix:///run/podman/podman.sock; on one machine without one, use PORTAL_LAUNCH_BUILDER=podman"
                )
            )
        try:
            version = docker.DockerClient(base_url=self.docker_url, timeout=10).version()
        except docker.errors.DockerException as exc:
            raise BuildFailed(
                N_("no container engine answers at {url}: {reason}"), url=self.docker_url, reason=str(exc)
            ) from exc
        yield BuildEvent(
            "building",
            f"container engine at {self.docker_url}: {version.get('Components', [{}])[0].get('Name', 'engine')} "
            f"{version.get('Version', '?')}",
        )
        image = self.image_ref(target.name)
        dockerfile = render_dockerfile(spec.repo_dir)
        (workdir / "Dockerfile").write_text(dockerfile)  # what repo2docker builds, kept beside the log
        yield BuildEvent(
            "building",
            f"repo2docker {repo2docker.__version__}: {spec.buildpack} -> {image} "
            f"({len(dockerfile.splitlines())}-line Dockerfile)",
        )
        argv = [sys.executable, "-m", "portal.environments.r2d_build", str(spec.repo_dir), image]
        if self.registry:
            argv.append("--push")
        env = {**os.environ, "DOCKER_HOST": self.docker_url, "CONTAINER_HOST": self.docker_url}
        tail: list[str] = []
        with (
            (workdir / "build.log").open("w") as log,
            subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1
            ) as proc,
        ):
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                line = line.rstrip()
                if line:
                    tail = [*tail[-20:], line]
                    yield BuildEvent("building", line)
            code = proc.wait()
        if code != 0:
            raise BuildFailed(
                N_("repo2docker built no image (exit {code}); the end of its log:\n{log}"),
                code=code,
                log="\n".join(tail[-12:]),
            )
        (workdir / "image.json").write_text(json.dumps({"image": image, "pushed": bool(self.registry)}))


def build_to_end(
    builder: Builder,
    repo_dir: Path,
    *,
    source_commit: str = "",
    on_event: Callable[[BuildEvent], object] | None = None,
) -> BuiltEnvironment:
    """Runs :meth:`Builder.build` to its result, handing each event to ``on_event``; raises what it raises."""
    for item in builder.build(repo_dir, source_commit=source_commit):
        if isinstance(item, BuiltEnvironment):
            return item
        if on_event is not None:
            on_event(item)
    raise BuildFailed(N_("the {builder} builder ended without a result"), builder=builder.name)
