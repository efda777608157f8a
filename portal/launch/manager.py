"""Launch jobs: check a request, build (or reuse) its environment, start it with the launcher, stream events.

With a job queue (every portal built from settings), the web process only checks a request and queues it (kind
``launch``, :mod:`portal.launch.queued`); a `portal worker` runs it and writes its events to the database, where any
web process streams them. An environment not built yet is built by a worker too (kind ``env.build``,
:mod:`portal.launch.builds`): the launch queues the build, or joins the one already under way for the same key,
relays its log and waits at most ``launch_build_timeout`` seconds. Without a queue (tests of parts) a launch runs
in a thread of its process. Also the environments this portal offers and the builds it made, for the pages and the
JSON API.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.catalog.service import CatalogService
from portal.db.engine import Database
from portal.db.models import EnvironmentBuild, EnvironmentPin, Record
from portal.db.paging import page_of
from portal.education.lessons import Lessons
from portal.environments.builders import Builder, BuildEvent, BuildFailed, BuiltEnvironment, build_to_end
from portal.environments.spec import materialise, read_spec, snapshot
from portal.errors import NotFound, Notice, PortalError, Translate
from portal.i18n import N_, translate_same
from portal.jobqueue.base import Cancelled, JobQueue, TaskFailed
from portal.launch.base import Launcher
from portal.launch.builds import BuildRuns
from portal.launch.kinds import LaunchContext, LaunchKind, dataset_environment
from portal.launch.queued import KIND as LAUNCH_KIND
from portal.launch.queued import MAX_ATTEMPTS as LAUNCH_ATTEMPTS
from portal.launch.queued import LaunchEvent, LaunchEvents, StoredLaunch, kind_from_json, kind_to_json, ref_of
from portal.launch.sources import Source, local_env
from portal.storage.base import Storage

HEARTBEAT_SECONDS = 5.0

Emit = Callable[[BuildEvent], None]


@dataclass
class LaunchJob:
    """A running launch: its events so far (BinderHub phases, as JSON objects), readable from any thread.
    ``recid`` is the record version the launch counts as a usage event of (None: none)."""

    id: str
    label: str
    recid: int | None = None
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
        """Events from the first one on, ending after ``ready`` or ``failed``; ``None`` is a heartbeat, given
        whenever ``heartbeat`` seconds pass with nothing happening."""
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


@dataclass(frozen=True)
class Environment:
    """An environment of analysis_envs/ as repo2docker reads it, with this builder's key and cache state."""

    name: str
    path: str
    buildpack: str
    spec_files: list[str]
    spec_hash: str
    builder: str
    key: str
    built: bool
    unsupported: list[Notice]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BrokenEnvironment:
    """An analysis_envs/ directory that is not a usable spec, and why (``problem``: the error, so the API says it
    in its reader's language)."""

    name: str
    error: str
    problem: PortalError | None = field(default=None, compare=False)

    def as_dict(self, translate: Translate = translate_same) -> dict[str, Any]:
        error = self.problem.localized(translate) if self.problem is not None else self.error
        return {"name": self.name, "error": error}


@dataclass(frozen=True)
class Build:
    """A finished build: its key, builder, where it came from (``commit`` None for local directories)."""

    key: str
    builder: str
    source: str
    commit: str | None
    spec_hash: str
    created: datetime

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "created": self.created.isoformat()}


class LaunchManager:
    """Runs launches of any kind (:mod:`portal.launch.kinds`) with the injected builder and launcher, keeps the
    builds' records and the record versions' pins, and lists environments and builds."""

    def __init__(
        self,
        db: Database,
        catalog: CatalogService,
        storage: Storage,
        builder: Builder,
        launcher: Launcher,
        *,
        work_dir: Path,
        git_hosts: list[str] | None = None,
        allow_file_urls: bool = False,
        envs_root: Path,
        lessons: Lessons,
        data_dir: Path | None = None,
        portal_url: str = "",
        queue: JobQueue | None = None,
        build_timeout: float = 1800.0,
    ) -> None:
        self.db = db
        #: launches and builds queued for workers; None (no queue): a launch runs and builds in its own thread
        self.queue = queue
        self.runs = BuildRuns(db, queue) if queue is not None else None
        self.events = LaunchEvents(db) if queue is not None else None
        #: seconds a launch waits for a queued build (`launch_build_timeout`); the build itself goes on
        self.build_timeout = build_timeout
        self.builder = builder
        self.launcher = launcher
        self.work_dir = Path(work_dir)
        self.context = LaunchContext(
            catalog=catalog,
            storage=storage,
            envs_root=envs_root,
            work_dir=self.work_dir,
            lessons=lessons,
            git_hosts=git_hosts or [],
            allow_file_urls=allow_file_urls,
            data_dirs=[Path(data_dir)] if data_dir is not None else [],
            portal_url=portal_url,
        )
        self.jobs: dict[str, LaunchJob] = {}
        self._lock = threading.Lock()

    @property
    def envs_root(self) -> Path:
        """The directory of named environments (analysis_envs/)."""
        return self.context.envs_root

    def environment_name(
        self, metadata: dict[str, Any], lookup: Callable[[int], dict[str, Any] | None] | None = None
    ) -> str | None:
        """The analysis_envs/ name a record launches (itself or through a record it requires), if any."""
        return self.context.environment_name(metadata, lookup)

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
        key = self.builder.key(spec)
        built = self.builder.cached(key)
        s.add(EnvironmentPin(recid=rec.recid, key=key, spec=snapshot(spec), **_image_of(built)))

    # -- jobs ------------------------------------------------------------------------------------------------
    def check(self, kind: LaunchKind) -> str:
        """Checks a launch request at once (bad input fails here, before any stream), then that the hub can be
        reached (Unavailable, a 503 with Retry-After, while it is down: nothing is built for a launch that
        cannot start); returns its label."""
        label = kind.check(self.context).label
        self.launcher.probe()
        return label

    @property
    def queued(self) -> bool:
        """Whether launches run on `portal worker` processes (and record their own end on their session row)."""
        return self.queue is not None

    def start(
        self, kind: LaunchKind, *, user: str = "demo", session_id: int | None = None, owner_id: int | None = None
    ) -> LaunchJob | StoredLaunch:
        """Checks ``kind`` and starts it: queued for a worker (its events then read from the database by any
        process), or without a queue in a thread of this process. Raises what :meth:`check` raises; everything
        after ends the stream with ``failed``. ``session_id``: the "my sessions" row the worker finishes; ``owner_id``:
        whose launch it is (workers claim first the launches of the owner with the fewest running)."""
        checked = kind.check(self.context)
        launch_id = uuid.uuid4().hex[:16]
        first = BuildEvent.said("waiting", N_("launch of {label} queued"), label=checked.label)
        if self.queue is None or self.events is None:
            job = LaunchJob(id=launch_id, label=checked.label, recid=checked.recid)
            with self._lock:
                self.jobs[job.id] = job
            job.emit(first)
            threading.Thread(
                target=self._run, args=(job.emit, kind, user), daemon=True, name=f"launch-{job.id}"
            ).start()
            return job
        payload = {
            "launch": launch_id,
            "kind": kind_to_json(kind),
            "user": user,
            "label": checked.label,
            "recid": checked.recid,
            "session": session_id,
        }
        with self.db.transaction() as s:  # the first event and the job together: a stream never waits for nothing
            s.add(
                LaunchEvent(
                    launch_id=launch_id,
                    phase=first.phase,
                    message=first.message,
                    data=first.stored_text(),
                    time=round(time.time(), 3),
                )
            )
            self.queue.enqueue(
                LAUNCH_KIND, payload, ref=ref_of(launch_id), owner_id=owner_id, max_attempts=LAUNCH_ATTEMPTS, session=s
            )
        self.queue.wakeup.set()
        return StoredLaunch(self.events, launch_id, checked.label, checked.recid)

    def job(self, job_id: str) -> LaunchJob | StoredLaunch:
        """A launch by id: one running in this process, or a queued one (any process's)."""
        with self._lock:
            found = self.jobs.get(job_id)
        if found is not None:
            return found
        entry = self.queue.find(ref_of(job_id)) if self.queue is not None and self.events is not None else None
        if entry is None or self.events is None:
            raise NotFound(N_("no launch {job_id!r}"), job_id=job_id)
        return StoredLaunch(self.events, job_id, str(entry.payload.get("label", "")), entry.payload.get("recid"))

    def run_queued(
        self, payload: dict[str, Any], *, attempt: int = 1, check_cancel: Callable[[], None] | None = None
    ) -> dict[str, Any]:
        """Run queued launch ``payload`` to its end, appending its events (the ``launch`` task of `portal worker`);
        return its last event. Safe to run again from the start (a lost worker's launch): the launcher reuses a
        server already running, builds are shared by key. A launch that already ended is not run again."""
        assert self.events is not None
        events = self.events
        launch_id = str(payload["launch"])
        done = events.since(launch_id)
        if done and done[-1][1]["phase"] in ("ready", "failed"):
            return done[-1][1]
        last: dict[str, Any] = {}

        def emit(event: BuildEvent) -> None:
            if check_cancel is not None:
                check_cancel()  # a stopping worker hands the launch back between steps
            events.append(launch_id, event)
            last.update(event.as_dict())

        if attempt > 1:
            lost = N_("attempt {attempt}: the previous worker was lost; launching again")
            emit(BuildEvent.said("waiting", lost, attempt=attempt))
        self._run(emit, kind_from_json(dict(payload["kind"])), str(payload["user"]), check_cancel=check_cancel)
        return last

    def launch_given_up(self, payload: dict[str, Any], reason: str) -> None:
        """The queue gave up on a launch (its worker lost with no attempt left): its stream ends with the reason,
        unless it already ended."""
        if self.events is not None and not self.events.ended(str(payload["launch"])):
            gone = PortalError(N_("the launch did not finish: {reason}"), reason=reason)
            self.events.append(str(payload["launch"]), BuildEvent.failure(gone))

    def _run(self, emit: Emit, kind: LaunchKind, user: str, *, check_cancel: Callable[[], None] | None = None) -> None:
        try:
            plan = kind.resolve(self.context, emit)
            built = self._build(emit, plan.source, plan.recid, check_cancel=check_cancel)
            events = self.launcher.launch(
                built, user=user, recid=plan.recid, files=plan.files, notebook=plan.notebook, prepare=plan.prepare
            )
            for event in events:
                emit(event)
        except Cancelled:  # a stopping worker: the job goes back to the queue and runs again from the start
            raise
        except PortalError as exc:  # BuildFailed, LaunchFailed among them: translated by the page, from its id
            emit(BuildEvent.failure(exc, named=True))
        except OSError as exc:
            emit(BuildEvent("failed", f"{type(exc).__name__}: {exc}"))
        except Exception as exc:  # the stream must end with a phase the page understands
            unexpected = PortalError(N_("unexpected error: {error}; see the portal log and try again"), error=repr(exc))
            emit(BuildEvent.failure(unexpected))

    def _build(
        self, emit: Emit, source: Source, recid: int | None, *, check_cancel: Callable[[], None] | None = None
    ) -> BuiltEnvironment:
        pinned, pinned_spec, pinned_image = self._pinned(recid)
        if pinned is not None:
            hit = self.builder.cached(pinned)
            if hit is not None:
                data: dict[str, object] = {"key": pinned, "cached": True, "pinned": "cached"}
                if hit.image:
                    image = f"{hit.image} {str(hit.record.get('image_id') or '')[:12]}"
                    relaunch = N_(
                        "record {recid} is pinned to build {key} (image {image}); relaunching the pinned image"
                    )
                    emit(BuildEvent.said("built", relaunch, data, recid=recid, key=pinned, image=image))
                else:
                    reuse = N_("record {recid} is pinned to build {key}; reusing it")
                    emit(BuildEvent.said("built", reuse, data, recid=recid, key=pinned))
                return hit
            if pinned_spec is not None:
                rebuilt = (
                    N_(
                        "record {recid} was published with environment spec {spec}; its pinned image {image} is not "
                        "cached here; rebuilding that spec"
                    )
                    if pinned_image
                    else N_("record {recid} was published with environment spec {spec}; rebuilding that spec")
                )
                emit(
                    BuildEvent.said(
                        "building",
                        rebuilt,
                        {"key": pinned, "pinned": "rebuilt"},
                        recid=recid,
                        spec=str(pinned_spec.get("spec_hash", ""))[:12],
                        **({"image": pinned_image[:12]} if pinned_image else {}),
                    )
                )
                source = Source(
                    repo_dir=materialise(pinned_spec, self.work_dir / "pinned" / pinned),
                    commit="",
                    label=f"{source.label} as published with record {recid}",
                )
        spec = read_spec(source.repo_dir)  # Invalid for a repository that is no spec
        key = self.builder.key(spec, source.commit)
        if self.runs is None or self.builder.cached(key) is not None:
            built = build_to_end(self.builder, source.repo_dir, source_commit=source.commit, on_event=emit)
        else:
            built = self._queued_build(emit, key, source, recid, snapshot(spec), check_cancel=check_cancel)
        self._remember(built, source, recid)
        return built

    def _queued_build(
        self,
        emit: Emit,
        key: str,
        source: Source,
        recid: int | None,
        spec: dict[str, Any],
        *,
        check_cancel: Callable[[], None] | None = None,
    ) -> BuiltEnvironment:
        """Queue the build of ``key`` (or join the one under way) and relay its log until it ends, waiting at most
        ``build_timeout`` seconds: then the launch fails naming the setting, and the build goes on for later ones."""
        assert self.runs is not None
        run_id, new = self.runs.request(
            key, repo_dir=str(source.repo_dir), source_commit=source.commit, label=source.label, recid=recid, spec=spec
        )
        emit(
            BuildEvent.said(
                "waiting",
                N_("build {key} queued for a worker") if new else N_("build {key} is already under way; following it"),
                {"key": key, "build": run_id},
                key=key,
            )
        )
        ended = self.runs.follow(run_id, emit, timeout=self.build_timeout, check=check_cancel)
        if ended is None:
            raise BuildFailed(
                N_(
                    "gave up waiting for build {key} after {seconds} s (PORTAL_LAUNCH_BUILD_TIMEOUT); "
                    "the build goes on, and a later launch uses it once it is done"
                ),
                key=key,
                seconds=f"{self.build_timeout:g}",
            )
        if ended.state == "failed":
            if ended.error_message:  # the worker's reason as a message id: still translated here
                raise BuildFailed.from_stored(ended.error_message)
            raise BuildFailed(ended.error or N_("build {key} failed"), **({} if ended.error else {"key": key}))
        built = self.builder.cached(key)
        if built is None:  # built by a worker with a var_dir of its own (another pod): as the worker recorded it
            with self.db.reader() as s:
                row = s.get(EnvironmentBuild, key)
                record = dict(row.record) if row is not None else None
            if record is None:
                raise BuildFailed(N_("build {key} finished on a worker but recorded no result"), key=key)
            built = self.builder.recorded(key, record)
        return built

    def run_build(self, run_id: int, *, attempt: int = 1, check_cancel: Callable[[], None] | None = None) -> None:
        """Run queued build ``run_id`` to its end, logging its events (the ``env.build`` task of `portal worker`).

        Safe to run again from the start (a lost worker's build): the builder writes a partial directory and
        renames it into place whole. A build that fails by itself is failed for good (TaskFailed, no retry)."""
        assert self.runs is not None
        run = self.runs.get(run_id)
        if run is None:
            raise TaskFailed(N_("no environment build {run_id}"), run_id=run_id)
        if run.state in ("succeeded", "failed"):
            return
        self.runs.mark(run_id, "running")
        if attempt > 1:
            self.runs.log(
                run_id,
                BuildEvent.said(
                    "building", N_("attempt {attempt}: the previous worker was lost; building again"), attempt=attempt
                ),
            )

        def log(event: BuildEvent) -> None:
            if check_cancel is not None:
                check_cancel()
            self.runs.log(run_id, event)  # type: ignore[union-attr]

        source = Source(repo_dir=Path(run.repo_dir), commit=run.source_commit, label=run.label)
        if not source.repo_dir.is_dir() and run.spec:  # the launch's checkout is on another machine
            self.runs.log(run_id, BuildEvent.said("building", N_("building from the spec files the launch recorded")))
            repo_dir = materialise(run.spec, self.work_dir / "queued" / f"{run.key}-{run_id}")
            source = Source(repo_dir=repo_dir, commit=run.source_commit, label=run.label)
        try:
            built = build_to_end(self.builder, source.repo_dir, source_commit=source.commit, on_event=log)
            self._remember(built, source, run.recid)
        except Cancelled:  # a stopping worker hands the build back (or lost it): run again from the start
            raise
        except PortalError as exc:  # BuildFailed among them
            # the launch says it as "BuildFailed: <reason>", in its reader's language (the message id is kept)
            self.runs.mark(run_id, "failed", exc.message, exc.stored())
            raise TaskFailed.like(exc) from exc
        self.runs.mark(run_id, "succeeded")

    def build_given_up(self, run_id: int, reason: str) -> None:
        """The queue gave up on build ``run_id`` (its worker lost, or it failed, with no attempt left): failed,
        saying why, unless the build already recorded its own failure."""
        run = self.runs.get(run_id) if self.runs is not None else None
        if self.runs is not None and run is not None and run.state not in ("succeeded", "failed"):
            gone = BuildFailed(N_("the build did not finish: {reason}"), reason=reason)
            self.runs.mark(run_id, "failed", gone.message, gone.stored())

    def _pinned(self, recid: int | None) -> tuple[str | None, dict[str, Any] | None, str]:
        if recid is None:
            return None, None, ""
        with self.db.reader() as s:
            pin = s.get(EnvironmentPin, recid)
            return (pin.key, pin.spec, pin.image_digest or "") if pin else (None, None, "")

    def _remember(self, built: BuiltEnvironment, source: Source, recid: int | None) -> None:
        """Record the build and pin ``recid`` to it. Two launches (or a launch and its build's worker) finishing
        the same first build at once both get here: each row is inserted unless present, never twice (the
        primary keys decide, in the database, instead of a read then an insert that races)."""
        with self.db.transaction() as s:
            _insert_missing(
                s,
                EnvironmentBuild,
                key=built.key,
                builder=built.builder,
                source=source.label,
                source_commit=source.commit,
                spec_hash=str(built.record.get("spec_hash")),
                record=built.record,
                created_at=datetime.now(UTC),
            )
            if recid is None:
                return
            _insert_missing(s, EnvironmentPin, recid=recid, key=built.key, **_image_of(built))
            pin = s.get(EnvironmentPin, recid, populate_existing=True)
            if pin is not None and pin.key == built.key and pin.image_digest is None and built.image:
                pin.image, pin.image_digest = _image_of(built).values()  # the first image of the pinned build
            elif (
                pin is not None
                and pin.key != built.key
                and pin.spec is not None
                and built.record.get("spec_hash") == pin.spec.get("spec_hash")
            ):
                pin.key = built.key  # the same spec under another builder (or builder version)

    def dataset_environment(self, metadata: dict[str, Any]) -> str | None:
        """The environment a dataset opens in unless the person picks another (see :func:`dataset_environment`)."""
        return dataset_environment(metadata, self.context)

    def environment_names(self) -> list[str]:
        """The names of the analysis_envs/ environments, sorted (without reading their specs)."""
        root = self.envs_root
        return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []

    def pins(self) -> dict[int, tuple[str, dict[str, Any] | None]]:
        """Every record's pinned build key and spec, by recid."""
        with self.db.reader() as s:
            return {pin.recid: (pin.key, pin.spec) for pin in s.scalars(select(EnvironmentPin))}

    def environments(self) -> list[Environment | BrokenEnvironment]:
        """The analysis_envs/ environments as repo2docker reads them, with this builder's key and cache state."""
        root = self.envs_root
        out: list[Environment | BrokenEnvironment] = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
            try:
                spec = read_spec(local_env(folder.name, root).repo_dir)
            except PortalError as err:
                out.append(BrokenEnvironment(folder.name, err.message, err))
                continue
            key = self.builder.key(spec)
            out.append(
                Environment(
                    name=folder.name,
                    path=f"analysis_envs/{folder.name}",
                    buildpack=spec.buildpack,
                    spec_files=sorted(spec.files),
                    spec_hash=spec.content_hash(),
                    builder=self.builder.name,
                    key=key,
                    built=self.builder.cached(key) is not None,
                    unsupported=self.builder.unsupported(spec),
                )
            )
        return out

    def builds(self, *, page: int = 1, size: int = 20) -> tuple[list[Build], int]:
        """Finished builds, newest first, one page at a time; and their total."""
        with self.db.reader() as s:
            order = (EnvironmentBuild.created_at.desc(), EnvironmentBuild.key)
            rows, total = page_of(s, select(EnvironmentBuild), *order, page=page, size=size)
            return [
                Build(
                    key=b.key,
                    builder=b.builder,
                    source=b.source,
                    commit=b.source_commit or None,
                    spec_hash=b.spec_hash,
                    created=b.created_at,
                )
                for b in rows
            ], total


def _insert_missing(s: Session, model: type[Any], **values: Any) -> None:
    """INSERT … ON CONFLICT DO NOTHING on the row's primary key (SQLite and PostgreSQL both have it)."""
    dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    s.execute(dialect.insert(model).values(**values).on_conflict_do_nothing())


def _image_of(built: BuiltEnvironment | None) -> dict[str, str | None]:
    """A pin's image columns for ``built`` (both None when it made no image)."""
    if built is None or not built.image:
        return {"image": None, "image_digest": None}
    digest = str(built.record.get("image_id") or "")
    if digest and ":" not in digest:  # podman gives the bare hex of the config's sha256
        digest = f"sha256:{digest}"
    return {"image": built.image, "image_digest": digest or None}
