"""Environment builds as queue jobs (kind ``env.build``): one row per build asked for, its log lines, its state.

A launch whose environment is not built asks for a build here and follows the build's log from the database; a
`portal worker` runs the build (:meth:`BuildRuns.run` through the task in :mod:`portal.jobqueue.tasks`), so no
build runs in a web process and a launch on any web process can follow a build started by another.

Two launches asking for the same key at once share one build: ``active_key`` holds the key while the build is
queued or running and is unique, so the second insert fails and reads the first's row instead ("insert or read
existing"); it is cleared when the build ends (NULLs never collide), so a later build of the key can start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.engine import Database
from portal.db.models import Base, BigIntPK, JSONType, utcnow
from portal.environments.builders import BuildEvent
from portal.jobqueue.base import JobQueue

KIND = "env.build"
#: how often a follower reads new log lines (seconds); a build's steps take seconds to minutes
POLL_SECONDS = 0.25
#: attempts at a build: a second one after a lost worker; a build that fails by itself is not retried
MAX_ATTEMPTS = 2


class EnvironmentBuildRun(Base):
    """A build asked for (migration queue_0002): what to build, its queue job and where it stands.

    ``state``: queued -> running -> succeeded | failed. ``active_key`` is ``key`` until the build ends, then NULL.
    """

    __tablename__ = "environment_build_runs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64))
    active_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    repo_dir: Mapped[str] = mapped_column(String(1024))
    source_commit: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(1024))
    recid: Mapped[int | None] = mapped_column(Integer)
    # the spec files (environments.spec.snapshot): a worker that cannot see repo_dir (another pod) builds these
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    #: ``error`` as a message id and values (migration i18n18_0001): the launch following the build shows it in
    #: its reader's language; None for a row from before, or one that succeeded
    error_message: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_environment_build_runs_key", "key"),)


class EnvironmentBuildLine(Base):
    """One event of a build's log, in order of ``id`` (migration queue_0002)."""

    __tablename__ = "environment_build_lines"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("environment_build_runs.id", ondelete="CASCADE"))
    phase: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_environment_build_lines_run", "run_id", "id"),)


@dataclass(frozen=True)
class BuildRun:
    """A build as stored: what it builds and its state (``error`` says why a failed one failed)."""

    id: int
    key: str
    job_id: int | None
    repo_dir: str
    source_commit: str
    label: str
    recid: int | None
    state: str
    error: str | None
    spec: dict[str, Any] | None = None
    error_message: dict[str, Any] | None = None


def _run(row: EnvironmentBuildRun) -> BuildRun:
    return BuildRun(
        row.id,
        row.key,
        row.job_id,
        row.repo_dir,
        row.source_commit,
        row.label,
        row.recid,
        row.state,
        row.error,
        dict(row.spec) if row.spec else None,
        dict(row.error_message) if row.error_message else None,
    )


class BuildRuns:
    """The build rows, their log and their queue jobs (``queue``: the portal's job queue)."""

    def __init__(self, db: Database, queue: JobQueue) -> None:
        self.db = db
        self.queue = queue

    def request(
        self,
        key: str,
        *,
        repo_dir: str,
        source_commit: str,
        label: str,
        recid: int | None,
        spec: dict[str, Any] | None = None,
    ) -> tuple[int, bool]:
        """The build of ``key`` under way: a new one queued (``(id, True)``), or the one already queued or
        running for the same key (``(id, False)``), which the asker then follows instead of building twice."""
        for _ in range(5):  # a joined build may end between the failed insert and the read: ask again
            try:
                with self.db.transaction() as s:
                    row = EnvironmentBuildRun(
                        key=key,
                        active_key=key,
                        repo_dir=repo_dir,
                        source_commit=source_commit,
                        label=label,
                        recid=recid,
                        spec=spec,
                        state="queued",
                    )
                    s.add(row)
                    s.flush()  # the unique active_key refuses a second build of the key here
                    row.job_id = self.queue.enqueue(
                        KIND, {"run": row.id}, ref=f"{KIND}:{row.id}", max_attempts=MAX_ATTEMPTS, session=s
                    )
                    return row.id, True
            except IntegrityError:
                with self.db.reader() as s:
                    found = s.scalar(select(EnvironmentBuildRun.id).where(EnvironmentBuildRun.active_key == key))
                if found is not None:
                    return found, False
        raise RuntimeError(f"could not queue or join a build of {key}")  # pragma: no cover - needs 5 races

    def get(self, run_id: int) -> BuildRun | None:
        with self.db.reader() as s:
            row = s.get(EnvironmentBuildRun, run_id)
            return _run(row) if row is not None else None

    def log(self, run_id: int, event: BuildEvent) -> None:
        """Append ``event`` to the build's log (its own transaction: followers see it at once)."""
        with self.db.transaction() as s:
            data = {**event.data, **event.stored_text()}
            s.add(EnvironmentBuildLine(run_id=run_id, phase=event.phase, message=event.message, data=data))

    def mark(
        self, run_id: int, state: str, error: str | None = None, error_message: dict[str, Any] | None = None
    ) -> None:
        """Set the build's state; a final one (succeeded, failed) frees its key for a later build. ``error`` is
        the English reason, ``error_message`` the same as a message id and values (:meth:`PortalError.stored`)."""
        values: dict[str, Any] = {"state": state, "error": error, "error_message": error_message}
        if state in ("succeeded", "failed"):
            values.update(active_key=None, finished_at=utcnow())
        with self.db.transaction() as s:
            s.execute(update(EnvironmentBuildRun).where(EnvironmentBuildRun.id == run_id).values(**values))

    def follow(
        self,
        run_id: int,
        on_event: Callable[[BuildEvent], object],
        *,
        poll: float = POLL_SECONDS,
        timeout: float | None = None,
        check: Callable[[], object] | None = None,
    ) -> BuildRun | None:
        """Hand each log line of the build to ``on_event`` as it is written, until the build ended; return it
        ended, or None once ``timeout`` seconds passed first (the build itself goes on). ``check`` is called at
        every poll (a worker's cancel check: a launch handed back stops following). A build waits for a worker:
        its queue job is recovered or failed when a worker is lost."""
        seen = 0
        deadline = time.monotonic() + timeout if timeout is not None and timeout > 0 else None
        while True:
            if check is not None:
                check()
            with self.db.reader() as s:
                row = s.get(EnvironmentBuildRun, run_id)
                if row is None:
                    raise RuntimeError(f"build {run_id} is gone")
                ended = _run(row) if row.state in ("succeeded", "failed") else None
                lines = s.scalars(
                    select(EnvironmentBuildLine)
                    .where(EnvironmentBuildLine.run_id == run_id, EnvironmentBuildLine.id > seen)
                    .order_by(EnvironmentBuildLine.id)
                ).all()
                events = [(line.id, BuildEvent.from_row(line.phase, line.message, line.data)) for line in lines]
            for line_id, event in events:
                on_event(event)
                seen = line_id
            if ended is not None:  # read with its lines in one session: none written after it is missed
                return ended
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(poll)
