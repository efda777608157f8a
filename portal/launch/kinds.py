"""One class per launch source kind: a named environment, a record version, a git repository, a lesson.

Each kind checks its request at once (bad input fails before any event stream starts) and, once the launch
runs, resolves it to a :class:`Plan`: what to build, which files, which notebook, which working directory.
The web routes pick the kind from the URL; :class:`portal.launch.manager.LaunchManager` runs any of them.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portal.catalog.service import CatalogService
from portal.education.lessons import Lesson, Lessons
from portal.education.workspace import check_lesson_data, lesson_workspace
from portal.environments.builders import BuildEvent
from portal.errors import Invalid, NotFound
from portal.i18n import N_
from portal.launch.base import FileRef, Prepare
from portal.launch.sources import Source, check_git_url, git_checkout, local_env
from portal.storage.base import Storage

ENV_REF = re.compile(r"analysis_envs/([a-z0-9][a-z0-9_-]*)")

Emit = Callable[[BuildEvent], None]


@dataclass
class LaunchContext:
    """What the kinds read: the catalogue and storage (a record's files), the environment directories, the lessons,
    the git policy, the portal's data directories (a lesson's data) and the launches' working directory."""

    catalog: CatalogService
    storage: Storage
    envs_root: Path
    work_dir: Path
    lessons: Lessons
    git_hosts: list[str] = field(default_factory=list)
    allow_file_urls: bool = False
    data_dirs: list[Path] = field(default_factory=list)
    portal_url: str = ""

    def environment_name(
        self, metadata: dict[str, Any], lookup: Callable[[int], dict[str, Any] | None] | None = None
    ) -> str | None:
        """The analysis_envs/ name a record launches (itself or through a record it requires), if any;
        ``lookup`` gives another record's metadata (default: the published catalogue)."""
        lesson = metadata.get("lesson")
        if isinstance(lesson, dict) and lesson.get("environment"):
            return str(lesson["environment"])
        lookup = lookup or self._published_metadata
        candidates = [metadata]
        for rel in metadata.get("relations") or []:
            if rel.get("type") == "requires" and str(rel.get("recid", "")).isdigit():
                found = lookup(int(rel["recid"]))
                if found is not None:
                    candidates.append(found)
        for candidate in candidates:
            match = ENV_REF.search(json.dumps(candidate))
            if match and (self.envs_root / match.group(1)).is_dir():
                return match.group(1)
        return None

    def _published_metadata(self, recid: int) -> dict[str, Any] | None:
        try:
            return self.catalog.get(recid).metadata
        except NotFound:
            return None

    def file_ref(self, row: dict[str, Any]) -> FileRef:
        """A catalogue file row as a fileset entry: its root:// URL when XRootD serves it."""
        uri = row.get("uri") or ""
        path = self.storage.path_of_url(uri) if uri else None
        root = self.storage.root_url(path) if path is not None else None
        return FileRef(key=row.get("key"), uri=root or uri, checksum=row.get("checksum"), size=row.get("size"))

    def root_url(self, path: Path) -> str | None:
        """The root:// URL of a file of the data directories, when the portal's storage serves it there."""
        for folder in self.data_dirs:
            try:
                rel = path.resolve().relative_to(folder.resolve()).as_posix()
            except ValueError:
                continue
            local = self.storage.local_path(rel)
            if local is not None and Path(local).resolve() == path.resolve():
                return self.storage.root_url(rel)
        return None


@dataclass(frozen=True)
class Checked:
    """A request that passed its checks: the label the launch page shows, and the record version the launch
    counts as a usage event of (None: none)."""

    label: str
    recid: int | None = None


@dataclass(frozen=True)
class Plan:
    """What a launch resolves to: the repository to build, the record whose pinned build it follows (None: no
    pin), the fileset, the notebook to open and what seeds the session's working directory."""

    source: Source
    recid: int | None = None
    files: list[FileRef] = field(default_factory=list)
    notebook: str = ""
    prepare: Prepare | None = None


class LaunchKind(ABC):
    """A launch request of one source kind; ``notebook`` is a path relative to the repository ("": JupyterLab)."""

    notebook: str

    def check(self, ctx: LaunchContext) -> Checked:
        """Checks the request without building anything; raises NotFound or Invalid naming what is wrong."""
        checked = self._check(ctx)
        if self.notebook and (self.notebook.startswith("/") or ".." in self.notebook.split("/")):
            raise Invalid(
                N_("notebook path {notebook!r} must be relative to the repository"),
                notebook=self.notebook,
                field="urlpath",
            )
        return checked

    @abstractmethod
    def _check(self, ctx: LaunchContext) -> Checked: ...

    @abstractmethod
    def resolve(self, ctx: LaunchContext, emit: Emit) -> Plan:
        """Resolves a checked request (fetching what it needs, reporting through ``emit``); raises PortalError
        or OSError when that fails."""


@dataclass(frozen=True)
class EnvLaunch(LaunchKind):
    """An environment of analysis_envs/ by name, with no files."""

    name: str
    notebook: str = ""

    def _check(self, ctx: LaunchContext) -> Checked:
        local_env(self.name, ctx.envs_root)
        return Checked(self.name)

    def resolve(self, ctx: LaunchContext, emit: Emit) -> Plan:
        return Plan(local_env(self.name, ctx.envs_root), notebook=self.notebook)


@dataclass(frozen=True)
class RecordLaunch(LaunchKind):
    """A record version: the environment it (or a record it requires) names, its files as the fileset, pinned to
    the build it was published (or first launched) with."""

    recid: int
    notebook: str = ""

    def _environment(self, metadata: dict[str, Any], ctx: LaunchContext) -> str:
        name = ctx.environment_name(metadata)
        if name is None:
            raise Invalid(
                N_(
                    "record {recid} names no environment (no `analysis_envs/<name>` in it "
                    "or in a record it requires); launch an environment by name instead"
                ),
                recid=self.recid,
                field="recid",
            )
        return name

    def _check(self, ctx: LaunchContext) -> Checked:
        name = self._environment(ctx.catalog.get(self.recid).metadata, ctx)
        return Checked(f"record {self.recid} ({name})", self.recid)

    def resolve(self, ctx: LaunchContext, emit: Emit) -> Plan:
        view = ctx.catalog.get(self.recid)
        source = local_env(self._environment(view.metadata, ctx), ctx.envs_root)
        files = [ctx.file_ref(row) for row in view.files]
        return Plan(source, recid=self.recid, files=files, notebook=self.notebook)


def dataset_environment(metadata: dict[str, Any], ctx: LaunchContext) -> str | None:
    """The environment a dataset opens in by default: the one it (or a record it requires) names, else the first
    whose requirements can read event files (uproot), else the first; None when there is none."""
    name = ctx.environment_name(metadata)
    if name is not None:
        return name
    known = sorted(p for p in ctx.envs_root.iterdir() if p.is_dir()) if ctx.envs_root.is_dir() else []
    for folder in known:
        for spec in (folder / "requirements.txt", folder / "binder" / "requirements.txt"):
            if spec.is_file() and re.search(r"^\s*uproot\b", spec.read_text(errors="replace"), re.MULTILINE):
                return folder.name
    return known[0].name if known else None


@dataclass(frozen=True)
class DatasetLaunch(LaunchKind):
    """A dataset version opened in an environment of the person's choice (``env``; empty: the one it recommends,
    else the first one): its files as the fileset and a starter notebook reading them over root:// and HTTPS.
    Not pinned through the record: the environment is chosen at launch, not published with the dataset."""

    recid: int
    env: str = ""
    notebook: str = ""

    def _env(self, metadata: dict[str, Any], ctx: LaunchContext) -> str:
        if self.env:
            local_env(self.env, ctx.envs_root)  # NotFound listing the known ones
            return self.env
        name = dataset_environment(metadata, ctx)
        if name is None:
            raise Invalid(N_("this portal has no analysis environments to open a dataset in"), field="env")
        return name

    def _check(self, ctx: LaunchContext) -> Checked:
        view = ctx.catalog.get(self.recid)
        if (view.metadata.get("type") or {}).get("primary") != "Dataset":
            raise Invalid(
                N_("record {recid} is not a dataset; launch it as a record instead"), recid=self.recid, field="recid"
            )
        return Checked(f"record {self.recid} in {self._env(view.metadata, ctx)}", self.recid)

    def resolve(self, ctx: LaunchContext, emit: Emit) -> Plan:
        from portal.launch.starter import dataset_workspace, notebook_name

        view = ctx.catalog.get(self.recid)
        files = [ctx.file_ref(row) for row in view.files]
        base = ctx.portal_url.rstrip("/")
        https = [f"{base}/record/{self.recid}/files/{row['key']}" for row in view.files if row.get("key")]
        title = str(view.metadata.get("title") or f"Record {self.recid}")
        return Plan(
            local_env(self._env(view.metadata, ctx), ctx.envs_root),
            files=files,
            notebook=self.notebook or notebook_name(self.recid),
            prepare=dataset_workspace(self.recid, title, view.doi, files, https),
        )


@dataclass(frozen=True)
class GitLaunch(LaunchKind):
    """A repository of an allow-listed git host at a ref, Binder-style; the resolved commit keys its build."""

    url: str
    ref: str = "HEAD"
    notebook: str = ""

    def _check(self, ctx: LaunchContext) -> Checked:
        check_git_url(self.url, ctx.git_hosts, ctx.allow_file_urls)
        return Checked(self.url)

    def resolve(self, ctx: LaunchContext, emit: Emit) -> Plan:
        emit(BuildEvent.said("fetching", N_("fetching {url} at {ref}"), url=self.url, ref=self.ref))
        source = git_checkout(
            self.url, self.ref, ctx.work_dir / "clones", allowed_hosts=ctx.git_hosts, allow_file=ctx.allow_file_urls
        )
        resolved = N_("resolved {ref} to {commit}")
        emit(BuildEvent.said("fetching", resolved, {"commit": source.commit}, ref=self.ref, commit=source.commit))
        return Plan(source, notebook=self.notebook)


@dataclass(frozen=True)
class LessonLaunch(LaunchKind):
    """A lesson: its environment, its notebook and worksheet in the session's directory, its data linked there,
    and the files of the records it uses as the fileset; pinned through the lesson record."""

    slug: str
    notebook: str = ""

    def _check(self, ctx: LaunchContext) -> Checked:
        lesson = ctx.lessons.find(self.slug)
        local_env(str(lesson.spec["environment"]), ctx.envs_root)
        check_lesson_data(lesson, ctx.data_dirs)
        return Checked(f"lesson “{lesson.spec['title']}”", lesson.recid)

    def resolve(self, ctx: LaunchContext, emit: Emit) -> Plan:
        lesson = ctx.lessons.find(self.slug)
        return Plan(
            local_env(str(lesson.spec["environment"]), ctx.envs_root),
            recid=lesson.recid,  # the lesson record pins the build it was first launched with
            files=self._files(lesson, ctx),
            notebook=self.notebook or str(lesson.spec["notebook"]),
            prepare=lesson_workspace(lesson, ctx.data_dirs, portal_url=ctx.portal_url, root_url=ctx.root_url),
        )

    @staticmethod
    def _files(lesson: Lesson, ctx: LaunchContext) -> list[FileRef]:
        files: list[FileRef] = []
        for recid in lesson.spec.get("uses") or []:
            try:
                files += [ctx.file_ref(row) for row in ctx.catalog.get(int(recid)).files]
            except NotFound:
                continue
        return files
