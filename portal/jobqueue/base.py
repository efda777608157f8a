"""The job-queue seam (entry-point group ``portal.queues``, setting ``job_queue``): the contract and its values.

A queue stores jobs durably and hands each queued job to exactly one worker at a time. Workers prove they are
alive with heartbeats; a job whose worker stopped beating is queued again (or failed, without attempts left) by
:meth:`JobQueue.recover`, which every worker calls, so no job stays "running" for a dead worker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from portal.errors import PortalError, json_params
from portal.i18n import N_

#: a queue job's states; the last three are final
STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL = frozenset(("succeeded", "failed", "cancelled"))

#: The queue's own reasons for where a job went, kept with the row as message ids like a task's failures, so the
#: jobs API says them in its reader's language.
RELEASED = N_("released by a stopping worker")
WORKER_LOST = N_("worker lost: {worker} sent no heartbeat for {seconds} s")
WORKER_LOST_AGAIN = N_("worker lost: {worker} sent no heartbeat for {seconds} s; queued again")
CANCELLED = N_("cancelled")
TAKEN = N_("taken from this worker (its heartbeat was late)")


def queue_message(template: str, **params: Any) -> dict[str, Any]:
    """One of the queue's reasons as a row's ``error_message`` (:func:`portal.errors.stored_message` reads it)."""
    return {"id": template, "params": json_params(params)}


class Cancelled(PortalError):  # noqa: N818 - a state, like the other domain errors' names
    """Raised inside a task (by :meth:`TaskRun.check_cancel`) when its job was cancelled or taken from this worker."""

    status = 409
    title = N_("Cancelled")


class TaskFailed(PortalError):
    """A task's failure that retrying cannot mend (``retry=False``), or one worth another attempt."""

    status = 500
    title = N_("Task failed")

    def __init__(self, message: str, *, retry: bool = False, **values: Any) -> None:
        super().__init__(message, **values)
        self.retry = retry
        self.kept: dict[str, Any] | None = None

    @classmethod
    def kept_as(cls, stored: dict[str, Any], english: str) -> TaskFailed:
        """A failure already kept as a message id elsewhere (``stored``, a launch's last event), ``english`` its
        text: the job keeps the same id, so the jobs API shows it in its reader's language too."""
        failed = cls(english)
        failed.kept = dict(stored)
        return failed

    def stored(self) -> dict[str, Any]:
        return dict(self.kept) if self.kept is not None else super().stored()


@dataclass(frozen=True)
class Claimed:
    """A job handed to one worker: what to run and the attempt this is (1 for the first)."""

    id: int
    kind: str
    payload: dict[str, Any]
    owner_id: int | None
    attempt: int
    max_attempts: int
    ref: str | None = None


@dataclass(frozen=True)
class Given:
    """A job the queue gave up on (no attempts left): its kind's ``give_up`` hook records the reason."""

    id: int
    kind: str
    payload: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class Entry:
    """A job as stored, for reading (tests, operators, the metrics)."""

    id: int
    kind: str
    ref: str | None
    payload: dict[str, Any]
    owner_id: int | None
    state: str
    attempts: int
    max_attempts: int
    run_after: datetime | None
    worker_id: str | None
    heartbeat_at: datetime | None
    cancel_requested: bool
    error: str | None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: what the task reported last with :meth:`JobQueue.report` (None: nothing)
    progress: dict[str, Any] | None = None
    #: ``error`` as a message id and values (:meth:`PortalError.stored`), None when it is text only
    error_message: dict[str, Any] | None = None


class JobQueue(Protocol):
    """Durable jobs, claimed by workers.

    Every method is safe to call from several threads and processes at once. ``session`` arguments let a
    service enqueue in its own transaction, so the domain row and its job are written together or not at all.
    """

    #: set when a job is enqueued in this process: a worker thread in the same process may wait on it
    wakeup: Any

    def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        owner_id: int | None = None,
        ref: str | None = None,
        max_attempts: int = 3,
        session: Any = None,
        run_after: datetime | None = None,
    ) -> int:
        """Store a queued job and return its id; no worker claims it before ``run_after`` (None: now), which is
        how periodic or delayed work (a retry after a backoff) is scheduled."""
        ...

    def claim(self, worker_id: str, kinds: Iterable[str]) -> Claimed | None:
        """Mark the next due queued job of one of ``kinds`` running for ``worker_id`` and return it (None when
        there is none). Fair between owners: among due jobs, one of the owner with the fewest running first."""
        ...

    def heartbeat(self, worker_id: str, job_ids: Iterable[int]) -> dict[int, bool]:
        """Record that ``worker_id`` still runs ``job_ids``; for each job it still holds, whether cancelling was
        requested. A job missing from the answer is no longer this worker's (it was recovered elsewhere)."""
        ...

    def finish(
        self,
        job_id: int,
        worker_id: str,
        state: str,
        error: str | None = None,
        *,
        error_message: dict[str, Any] | None = None,
    ) -> bool:
        """Put a job this worker holds in a final state; False when it no longer holds it."""
        ...

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
        """A failed attempt: queued again after ``backoff * 2**(attempt - 1)`` seconds when ``retry`` and attempts
        are left (returns False), else failed for good (returns True: the kind's ``give_up`` should run).
        ``error_message``: ``error`` as a message id and values, for readers in other languages."""
        ...

    def report(self, job_id: int, progress: dict[str, Any]) -> None:
        """Store what a running job reports of its progress (read back as :attr:`Entry.progress`)."""
        ...

    def release(self, job_id: int, worker_id: str) -> None:
        """Give a job back unfinished (a worker stopping): queued again, the attempt not counted."""
        ...

    def recover(self, timeout: float) -> list[Given]:
        """Queue again every running job whose heartbeat is older than ``timeout`` seconds, or fail it (no
        attempts left: returned, with the reason "worker lost")."""
        ...

    def cancel(self, ref: str) -> str | None:
        """Cancel the job working for ``ref``: a queued one at once ("cancelled"), a running one by a flag its
        task checks between chunks ("running"); the state found (None: no unfinished job)."""
        ...

    def cancel_job(self, job_id: int) -> str | None:
        """Cancel job ``job_id`` as :meth:`cancel` does the job of a ref; the state found (None: finished or none)."""
        ...

    def get(self, job_id: int) -> Entry | None:
        """The stored job."""
        ...

    def entries(
        self,
        *,
        kind: str | None = None,
        state: str | None = None,
        owner_id: int | None = None,
        page: int = 1,
        size: int = 20,
    ) -> tuple[list[Entry], int]:
        """Jobs newest first, of one ``kind``, in one ``state`` and of one owner when given (None: any), page
        ``page`` of ``size``; and how many match."""
        ...

    def find(self, ref: str) -> Entry | None:
        """The latest job working for ``ref``."""
        ...

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        ...
