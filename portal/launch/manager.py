"""Launch jobs: resolve a source, build (or reuse) its environment, start it on JupyterHub, stream events."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.catalog.service import CatalogService
from portal.db.engine import Database
from portal.db.models import EnvironmentBuild, EnvironmentPin, Record
from portal.education.lessons import Lesson, find_lesson
from portal.education.workspace import Prepare, check_lesson_data, lesson_workspace
from portal.environments.builders import Builder, BuildEvent, BuildFailed, BuiltEnvironment
from portal.environments.spec import materialise, read_spec, snapshot
from portal.errors import Invalid, NotFound, PortalError, Unavailable
from portal.launch.service import LaunchFailed, LaunchService
from portal.launch.sources import ANALYSIS_ENVS, Source, git_checkout, local_env
from portal.storage.base import Storage

ENV_REF = re.compile(r"analysis_envs/([a-z0-9][a-z0-9_-]*)")
HEARTBEAT_SECONDS = 5.0


@dataclass
class LaunchJob:
    id: str
    label: str
    events: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    cond: threading.Condition = field(default_factory=threading.Condition)

    def emit(self, event: BuildEvent) -> None:
        with self.cond:
            self.events.append({**event.as_dict(), "time": round(time.time(), 3)})
            if event.phase in ("ready", "failed"):
                self.done = True
            self.cond.notify_all()

    def stream(self, heartbeat: float = HEARTBEAT_SECONDS) -> Iterator[dict[str, Any] | None]:
        """Events from the first one on; ``None`` is a heartbeat while nothing happens."""
        sent = 0
        while True:
            with self.cond:
                if sent >= len(self.events) and not self.done:
                    self.cond.wait(heartbeat)
                pending = self.events[sent:]
                finished = self.done
            if not pending and not finished:
                yield None
            yield from pending
            sent += len(pending)
            if finished and sent >= len(self.events):
                return


class LaunchManager:
    def __init__(
        self,
        db: Database,
        catalog: CatalogService,
        storage: Storage,
        builder: Builder,
        *,
        work_dir: Path,
        hub_url: str = "",
        hub_token: str = "",
        git_hosts: list[str] | None = None,
        allow_file_urls: bool = False,
        envs_root: Path = ANALYSIS_ENVS,
        data_dir: Path | None = None,
        portal_url: str = "",
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.storage = storage
        self.builder = builder
        self.work_dir = Path(work_dir)
        self.hub_url = hub_url
        self.hub_token = hub_token
        self.git_hosts = git_hosts or []
        self.allow_file_urls = allow_file_urls
        self.envs_root = envs_root
        self.data_dirs = [Path(data_dir)] if data_dir is not None else []
        self.portal_url = portal_url
        self.jobs: dict[str, LaunchJob] = {}
        self._lock = threading.Lock()

    # -- sources ---------------------------------------------------------------------------------------------
    def env_for_record(self, recid: int) -> tuple[str, list[dict[str, Any]]]:
        """The analysis_envs/ name a record (or a record it requires) names, and the record's files."""
        view = self.catalog.get(recid)
        name = self.environment_name(view.metadata)
        if name is None:
            raise Invalid(
                f"record {recid} names no environment (no `analysis_envs/<name>` in it or in a record it "
                "requires); launch an environment by name instead",
                field="recid",
            )
        return name, [self._file_ref(row) for row in view.files]

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
            found = ENV_REF.search(json.dumps(candidate))
            if found and (self.envs_root / found.group(1)).is_dir():
                return found.group(1)
        return None

    def _published_metadata(self, recid: int) -> dict[str, Any] | None:
        try:
            return self.catalog.get(recid).metadata
        except NotFound:
            return None

    def pin_published(self, s: Session, rec: Record) -> None:
        """Catalogue observer: a version published while naming an environment is pinned to that environment's
        spec as it is now, so it keeps launching it after analysis_envs/ changes."""
        if rec.status != "published" or s.get(EnvironmentPin, rec.recid) is not None:
            return

        def lookup(recid: int) -> dict[str, Any] | None:  # in this transaction: a load may add both at once
            other = s.get(Record, recid)
            return other.data if other is not None else None

        name = self.environment_name(rec.data, lookup)
        if name is None:
            return
        try:
            spec = read_spec(local_env(name, self.envs_root).repo_dir)
        except PortalError:  # an environment missing here must not undo the publication; the first launch pins
            return
        s.add(EnvironmentPin(recid=rec.recid, key=self.builder.key(spec), spec=snapshot(spec)))

    def _lesson_files(self, lesson: Lesson) -> list[dict[str, Any]]:
        files: list[dict[str, Any]] = []
        for recid in lesson.spec.get("uses") or []:
            try:
                files += [self._file_ref(row) for row in self.catalog.get(int(recid)).files]
            except NotFound:
                continue
        return files

    def _lesson_workspace(self, lesson: Lesson) -> Prepare:
        def root_url(path: Path) -> str | None:
            for folder in self.data_dirs:
                try:
                    rel = path.resolve().relative_to(folder.resolve()).as_posix()
                except ValueError:
                    continue
                local = self.storage.local_path(rel)
                if local is not None and Path(local).resolve() == path.resolve():
                    return self.storage.root_url(rel)
            return None

        return lesson_workspace(lesson, self.data_dirs, portal_url=self.portal_url, root_url=root_url)

    def _file_ref(self, row: dict[str, Any]) -> dict[str, Any]:
        uri = row.get("uri") or ""
        path = self.storage.path_of_url(uri) if uri else None
        root = self.storage.root_url(path) if path is not None else None
        return {"key": row.get("key"), "uri": root or uri, "checksum": row.get("checksum"), "size": row.get("size")}

    # -- jobs ------------------------------------------------------------------------------------------------
    def check(self, kind: str, *, name: str = "", recid: int | None = None, url: str = "", notebook: str = "") -> str:
        """Checks a launch request at once (bad input fails here, before any stream); returns its label."""
        if kind == "env":
            local_env(name, self.envs_root)
        elif kind == "record":
            assert recid is not None
            name, _files = self.env_for_record(recid)
            name = f"record {recid} ({name})"
        elif kind == "git":
            from portal.launch.sources import check_git_url

            check_git_url(url, self.git_hosts, self.allow_file_urls)
        elif kind == "lesson":
            lesson = find_lesson(name)
            local_env(str(lesson.spec["environment"]), self.envs_root)
            check_lesson_data(lesson, self.data_dirs)
            name = f"lesson “{lesson.spec['title']}”"
        else:
            raise Invalid(f"unknown launch source {kind!r}", field="source")
        if notebook and (notebook.startswith("/") or ".." in notebook.split("/")):
            raise Invalid(f"notebook path {notebook!r} must be relative to the repository", field="urlpath")
        return name or url

    def start(
        self,
        kind: str,
        *,
        name: str = "",
        recid: int | None = None,
        url: str = "",
        ref: str = "",
        notebook: str = "",
        user: str = "demo",
    ) -> LaunchJob:
        """Starts a checked launch in a thread; its events are read from the returned job in this process."""
        label = self.check(kind, name=name, recid=recid, url=url, notebook=notebook)
        job = LaunchJob(id=uuid.uuid4().hex[:16], label=label)
        with self._lock:
            self.jobs[job.id] = job
        job.emit(BuildEvent("waiting", f"launch of {job.label} queued"))
        threading.Thread(
            target=self._run,
            args=(job, kind, name, recid, url, ref, notebook, user),
            daemon=True,
            name=f"launch-{job.id}",
        ).start()
        return job

    def job(self, job_id: str) -> LaunchJob:
        try:
            return self.jobs[job_id]
        except KeyError:
            raise NotFound(f"no launch {job_id!r}") from None

    def _run(
        self, job: LaunchJob, kind: str, name: str, recid: int | None, url: str, ref: str, notebook: str, user: str
    ) -> None:
        try:
            files: list[dict[str, Any]] = []
            prepare: Prepare | None = None
            if kind == "git":
                job.emit(BuildEvent("fetching", f"fetching {url} at {ref}"))
                source = git_checkout(
                    url, ref, self.work_dir / "clones", allowed_hosts=self.git_hosts, allow_file=self.allow_file_urls
                )
                job.emit(BuildEvent("fetching", f"resolved {ref} to {source.commit}", {"commit": source.commit}))
            elif kind == "record":
                assert recid is not None
                name, files = self.env_for_record(recid)
                source = local_env(name, self.envs_root)
            elif kind == "lesson":
                lesson = find_lesson(name)
                recid = lesson.recid  # the lesson record pins the build it was first launched with
                source = local_env(str(lesson.spec["environment"]), self.envs_root)
                files = self._lesson_files(lesson)
                notebook = notebook or str(lesson.spec["notebook"])
                prepare = self._lesson_workspace(lesson)
            else:
                source = local_env(name, self.envs_root)
            built = self._build(job, source, recid)
            if not self.hub_url:
                raise Unavailable(
                    "JupyterHub is not running: start the portal with `make run` (launch_enabled) "
                    "or set PORTAL_LAUNCH_HUB_URL and PORTAL_LAUNCH_HUB_TOKEN"
                )
            service = LaunchService(self.hub_url, self.hub_token, self.work_dir / "sessions")
            for event in service.launch(built, user=user, recid=recid, files=files, notebook=notebook, prepare=prepare):
                job.emit(event)
        except (PortalError, BuildFailed, LaunchFailed, OSError) as exc:
            job.emit(BuildEvent("failed", f"{type(exc).__name__}: {exc}"))
        except Exception as exc:  # the stream must end with a phase the page understands
            job.emit(BuildEvent("failed", f"unexpected error: {exc!r}; see the portal log and try again"))

    def _build(self, job: LaunchJob, source: Source, recid: int | None) -> BuiltEnvironment:
        pinned, pinned_spec = self._pinned(recid)
        if pinned is not None:
            hit = self.builder.cached(pinned)
            if hit is not None:
                job.emit(
                    BuildEvent(
                        "built",
                        f"record {recid} is pinned to build {pinned}; reusing it",
                        {"key": pinned, "cached": True},
                    )
                )
                return hit
            if pinned_spec is not None:
                job.emit(
                    BuildEvent(
                        "building",
                        f"record {recid} was published with environment spec "
                        f"{str(pinned_spec.get('spec_hash', ''))[:12]}; building that spec",
                        {"key": pinned},
                    )
                )
                source = Source(
                    repo_dir=materialise(pinned_spec, self.work_dir / "pinned" / pinned),
                    commit="",
                    label=f"{source.label} as published with record {recid}",
                )
        for item in self.builder.build(source.repo_dir, source_commit=source.commit):
            if isinstance(item, BuiltEnvironment):
                self._remember(item, source, recid)
                return item
            job.emit(item)
        raise BuildFailed("the builder ended without a result")

    def _pinned(self, recid: int | None) -> tuple[str | None, dict[str, Any] | None]:
        if recid is None:
            return None, None
        with self.db.reader() as s:
            pin = s.get(EnvironmentPin, recid)
            return (pin.key, pin.spec) if pin else (None, None)

    def _remember(self, built: BuiltEnvironment, source: Source, recid: int | None) -> None:
        with self.db.transaction() as s:
            if s.get(EnvironmentBuild, built.key) is None:
                s.add(
                    EnvironmentBuild(
                        key=built.key,
                        builder=built.builder,
                        source=source.label,
                        source_commit=source.commit,
                        spec_hash=str(built.record.get("spec_hash")),
                        record=built.record,
                    )
                )
            pin = s.get(EnvironmentPin, recid) if recid is not None else None
            if recid is not None and pin is None:
                s.add(EnvironmentPin(recid=recid, key=built.key))
            elif (
                pin is not None
                and pin.key != built.key
                and pin.spec is not None
                and built.record.get("spec_hash") == pin.spec.get("spec_hash")
            ):
                pin.key = built.key  # the same spec under another builder (or builder version)

    def environments(self) -> list[dict[str, Any]]:
        """The analysis_envs/ environments as repo2docker reads them, with this builder's key and cache state."""
        out = []
        for folder in sorted(p for p in self.envs_root.iterdir() if p.is_dir()) if self.envs_root.is_dir() else []:
            try:
                spec = read_spec(local_env(folder.name, self.envs_root).repo_dir)
            except PortalError as err:
                out.append({"name": folder.name, "error": err.message})
                continue
            key = self.builder.key(spec)
            out.append(
                {
                    "name": folder.name,
                    "path": f"analysis_envs/{folder.name}",
                    "buildpack": spec.buildpack,
                    "spec_files": sorted(spec.files),
                    "spec_hash": spec.content_hash(),
                    "builder": self.builder.name,
                    "key": key,
                    "built": self.builder.cached(key) is not None,
                    "unsupported": self.builder.unsupported(spec),
                }
            )
        return out

    def builds(self, *, page: int = 1, size: int = 20) -> tuple[list[dict[str, Any]], int]:
        """Finished builds, newest first, one page at a time; and their total."""
        with self.db.reader() as s:
            total = s.scalar(select(func.count()).select_from(EnvironmentBuild)) or 0
            rows = s.scalars(
                select(EnvironmentBuild)
                .order_by(EnvironmentBuild.created_at.desc(), EnvironmentBuild.key)
                .offset((page - 1) * size)
                .limit(size)
            )
            return [
                {
                    "key": b.key,
                    "builder": b.builder,
                    "source": b.source,
                    "commit": b.source_commit or None,
                    "spec_hash": b.spec_hash,
                    "created": b.created_at.isoformat(),
                }
                for b in rows
            ], total
