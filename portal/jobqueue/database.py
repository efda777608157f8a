"""The database queue (``job_queue = "database"``): jobs are rows of ``queue_jobs`` in the portal's own database.

Chosen over a queue library because none of the well-kept ones (Celery, RQ, Dramatiq, Huey, procrastinate)
serves both SQLite and PostgreSQL without another server or a PostgreSQL-only design, and the portal already has
both databases, their migrations and their tests. Claiming differs by database:

- PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` picks a row no other transaction holds, so any number of
  workers claim concurrently without waiting on each other or taking the same job.
- SQLite has no row locks: a claim starts with ``BEGIN IMMEDIATE``, which takes the database's one write lock
  before reading, so two claims never read the same queued row. That is correct with several workers but
  serialises them, so one worker process (with several threads) is the SQLite setup.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, func, select, update
from sqlalchemy.orm import Session, aliased

from portal.db.engine import Database
from portal.db.paging import page_of
from portal.errors import Notice
from portal.jobqueue.base import (
    CANCELLED,
    RELEASED,
    WORKER_LOST,
    WORKER_LOST_AGAIN,
    Claimed,
    Entry,
    Given,
    queue_message,
)
from portal.jobqueue.models import QueueJob

Q = cast(Table, QueueJob.__table__)


def _now() -> datetime:
    return datetime.now(UTC)


def worker_name() -> str:
    """A worker id naming the host and process (unique while the process lives)."""
    import os
    import uuid

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class DatabaseQueue:
    """Jobs in the ``queue_jobs`` table of ``db`` (see the module's docstring for how claims stay exclusive)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.wakeup = threading.Event()

    @classmethod
    def from_settings(cls, settings: Any, *, db: Database) -> DatabaseQueue:
        return cls(db)

    # ------------------------------------------------------------------ writing
    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction; on SQLite it holds the database's write lock from its first statement."""
        with self.db.engine.connect() as conn:
            if self.db.dialect == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        owner_id: int | None = None,
        ref: str | None = None,
        max_attempts: int = 3,
        session: Session | None = None,
        run_after: datetime | None = None,
    ) -> int:
        job = QueueJob(
            kind=kind,
            ref=ref,
            payload=payload,
            owner_id=owner_id,
            state="queued",
            attempts=0,
            max_attempts=max(1, max_attempts),
            run_after=run_after or _now(),
            cancel_requested=False,
            created_at=_now(),
        )
        if session is not None:
            # the caller commits, then sets `wakeup` (a worker woken before the commit would find nothing)
            session.add(job)
            session.flush()
            return int(job.id)
        with self.db.transaction() as s:
            s.add(job)
            s.flush()
        self.wakeup.set()
        return int(job.id)

    def claim(self, worker_id: str, kinds: Iterable[str]) -> Claimed | None:
        kinds = list(kinds)
        now = _now()
        running = aliased(QueueJob)
        # fairness: among due jobs, those whose owner has the fewest jobs running go first, then the oldest
        load = (
            select(func.count())
            .select_from(running)
            .where(running.state == "running", running.owner_id == QueueJob.owner_id)
            .scalar_subquery()
        )
        due = (QueueJob.state == "queued", QueueJob.run_after <= now, QueueJob.kind.in_(kinds))
        with self.db.engine.connect() as conn:
            # a plain read first: an idle worker polling takes no lock (on SQLite, not the database's write lock)
            if conn.execute(select(QueueJob.id).where(*due).limit(1)).first() is None:
                return None
        pick = (
            select(QueueJob.id)
            .where(*due)
            .order_by(load, QueueJob.id)
            .limit(1)
            .with_for_update(skip_locked=True, of=QueueJob)
        )
        with self._write() as conn:
            job_id = conn.execute(pick).scalar()
            if job_id is None:
                return None
            row = conn.execute(
                update(Q)
                .where(Q.c.id == job_id)
                .values(
                    state="running",
                    worker_id=worker_id,
                    heartbeat_at=now,
                    started_at=now,
                    attempts=Q.c.attempts + 1,
                    cancel_requested=False,
                )
                .returning(Q.c.kind, Q.c.payload, Q.c.owner_id, Q.c.attempts, Q.c.max_attempts, Q.c.ref)
            ).one()
        return Claimed(
            id=int(job_id),
            kind=row.kind,
            payload=dict(row.payload),
            owner_id=row.owner_id,
            attempt=int(row.attempts),
            max_attempts=int(row.max_attempts),
            ref=row.ref,
        )

    def heartbeat(self, worker_id: str, job_ids: Iterable[int]) -> dict[int, bool]:
        ids = list(job_ids)
        if not ids:
            return {}
        held = (Q.c.id.in_(ids), Q.c.worker_id == worker_id, Q.c.state == "running")
        with self._write() as conn:
            conn.execute(update(Q).where(*held).values(heartbeat_at=_now()))
            rows = conn.execute(select(Q.c.id, Q.c.cancel_requested).where(*held))
            return {int(i): bool(flag) for i, flag in rows}

    def finish(
        self,
        job_id: int,
        worker_id: str,
        state: str,
        error: str | None = None,
        *,
        error_message: dict[str, Any] | None = None,
    ) -> bool:
        with self._write() as conn:
            done = conn.execute(
                update(Q)
                .where(Q.c.id == job_id, Q.c.worker_id == worker_id, Q.c.state == "running")
                .values(state=state, error=error, error_message=error_message, finished_at=_now(), heartbeat_at=None)
            )
            return bool(done.rowcount)

    def fail(
        self,
        job_id: int,
        worker_id: str,
        error: str,
        *,
        retry: bool,
        backoff: float,
        error_message: dict[str, Any] | None = None,
    ) -> bool:
        with self._write() as conn:
            row = conn.execute(
                select(Q.c.attempts, Q.c.max_attempts).where(
                    Q.c.id == job_id, Q.c.worker_id == worker_id, Q.c.state == "running"
                )
            ).first()
            if row is None:
                return False  # recovered elsewhere meanwhile: whoever holds it now decides
            again = retry and row.attempts < row.max_attempts
            values: dict[str, Any] = {
                "error": error,
                "error_message": error_message,
                "heartbeat_at": None,
                "worker_id": None,
            }
            if again:
                delay = backoff * 2 ** (row.attempts - 1)
                values.update(state="queued", run_after=_now() + timedelta(seconds=delay))
            else:
                values.update(state="failed", finished_at=_now())
            conn.execute(update(Q).where(Q.c.id == job_id).values(**values))
            return not again

    def report(self, job_id: int, progress: dict[str, Any]) -> None:
        # any state: a report racing the job's end is harmless (the reader sees the final state beside it)
        with self.db.transaction() as s:
            s.execute(update(Q).where(Q.c.id == job_id).values(progress=progress))

    def release(self, job_id: int, worker_id: str) -> None:
        with self._write() as conn:
            conn.execute(
                update(Q)
                .where(Q.c.id == job_id, Q.c.worker_id == worker_id, Q.c.state == "running")
                .values(
                    state="queued",
                    worker_id=None,
                    heartbeat_at=None,
                    run_after=_now(),
                    attempts=Q.c.attempts - 1,
                    error=RELEASED,
                    error_message=queue_message(RELEASED),
                )
            )
        self.wakeup.set()

    def recover(self, timeout: float) -> list[Given]:
        now = _now()
        late = (Q.c.state == "running", Q.c.heartbeat_at < now - timedelta(seconds=timeout))
        with self.db.engine.connect() as conn:
            if conn.execute(select(Q.c.id).where(*late).limit(1)).first() is None:
                return []  # the usual case, answered without a write lock
        stale = (
            select(Q.c.id, Q.c.kind, Q.c.payload, Q.c.attempts, Q.c.max_attempts, Q.c.worker_id)
            .where(*late)
            .with_for_update(skip_locked=True)
        )
        given: list[Given] = []
        with self._write() as conn:
            for row in conn.execute(stale).all():
                lost = {"worker": row.worker_id, "seconds": f"{timeout:g}"}
                reason = Notice(WORKER_LOST, **lost)  # text, with its id: give_up hooks keep it translatable
                if row.attempts < row.max_attempts:
                    values: dict[str, Any] = {
                        "state": "queued",
                        "run_after": now,
                        "error": WORKER_LOST_AGAIN.format(**lost),
                        "error_message": queue_message(WORKER_LOST_AGAIN, **lost),
                    }
                else:
                    values = {
                        "state": "failed",
                        "finished_at": now,
                        "error": reason,
                        "error_message": queue_message(WORKER_LOST, **lost),
                    }
                    given.append(Given(int(row.id), row.kind, dict(row.payload), reason))
                conn.execute(update(Q).where(Q.c.id == row.id).values(worker_id=None, heartbeat_at=None, **values))
        return given

    def cancel(self, ref: str) -> str | None:
        return self._cancel(Q.c.ref == ref)

    def cancel_job(self, job_id: int) -> str | None:
        return self._cancel(Q.c.id == job_id)

    def _cancel(self, which: Any) -> str | None:
        with self._write() as conn:
            row = conn.execute(
                select(Q.c.id, Q.c.state)
                .where(which, Q.c.state.in_(("queued", "running")))
                .order_by(Q.c.id.desc())
                .limit(1)
            ).first()
            if row is None:
                return None
            if row.state == "queued":
                conn.execute(
                    update(Q)
                    .where(Q.c.id == row.id)
                    .values(
                        state="cancelled", finished_at=_now(), error=CANCELLED, error_message=queue_message(CANCELLED)
                    )
                )
            else:
                conn.execute(update(Q).where(Q.c.id == row.id).values(cancel_requested=True))
            return str(row.state)

    # ------------------------------------------------------------------ reading
    def get(self, job_id: int) -> Entry | None:
        with self.db.reader() as s:
            job = s.get(QueueJob, job_id)
            return _entry(job) if job is not None else None

    def find(self, ref: str) -> Entry | None:
        with self.db.reader() as s:
            job = s.scalars(select(QueueJob).where(QueueJob.ref == ref).order_by(QueueJob.id.desc()).limit(1)).first()
            return _entry(job) if job is not None else None

    def entries(
        self,
        *,
        kind: str | None = None,
        state: str | None = None,
        owner_id: int | None = None,
        page: int = 1,
        size: int = 20,
    ) -> tuple[list[Entry], int]:
        where = [
            column == value
            for column, value in ((QueueJob.kind, kind), (QueueJob.state, state), (QueueJob.owner_id, owner_id))
            if value is not None
        ]
        with self.db.reader() as s:
            rows, total = page_of(s, select(QueueJob).where(*where), QueueJob.id.desc(), page=page, size=size)
            return [_entry(job) for job in rows], total

    def counts(self) -> dict[str, int]:
        with self.db.reader() as s:
            rows = s.execute(select(QueueJob.state, func.count()).group_by(QueueJob.state))
            return {state: int(n) for state, n in rows}


def _entry(job: QueueJob) -> Entry:
    return Entry(
        id=job.id,
        kind=job.kind,
        ref=job.ref,
        payload=dict(job.payload),
        owner_id=job.owner_id,
        state=job.state,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        run_after=job.run_after,
        worker_id=job.worker_id,
        heartbeat_at=job.heartbeat_at,
        cancel_requested=job.cancel_requested,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        progress=dict(job.progress) if job.progress is not None else None,
        error_message=dict(job.error_message) if job.error_message else None,
    )
