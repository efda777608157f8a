"""Ingests as queue jobs (kind ``ingest``): one of more files than ``ingest_queue_files`` runs on a `portal worker`
with its progress on the job (files done of the total, the current file) and cancellation between files;
`portal ingest` queues it and prints the job's id (``--wait`` follows it).

:func:`run_ingest` is the one ingest both the command (small ingests, in its own process) and the worker run. It is
atomic: files are only read until the catalogue's one transaction (:meth:`CatalogService.ingest_files`) stores
every row at once; a file index written for it is removed again when that transaction fails, so a failed or
cancelled ingest leaves the record and the storage as they were. Run again from the start it does the same work
(a lost worker's ingest is simply repeated).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from portal.files.ingest import resolve_target, write_file_index

if TYPE_CHECKING:
    from portal.catalog.results import RecordView
    from portal.files.guard import Placed
    from portal.jobqueue.base import JobQueue
    from portal.services import Services

KIND = "ingest"
#: a lost worker's ingest runs once more from the start; a failed one (bad target, refused record) is final
MAX_ATTEMPTS = 2
#: progress is written to the job at most this often (seconds): a million small files must not mean a million writes
PROGRESS_EVERY = 0.5


def ref_of(recid: int) -> str:
    """The ref of a record's ingests: `portal ingest RECID --cancel` cancels the latest one unfinished."""
    return f"{KIND}:{recid}"


@dataclass
class IngestOutcome:
    """What an ingest did: the record as stored (None: no good file, nothing stored) and the files left out."""

    view: RecordView | None
    errors: list[tuple[str, str]] = field(default_factory=list)
    files: int = 0
    placed: Placed | None = None

    def summary(self) -> dict[str, Any]:
        """The job's final progress: counts, the record's distribution and every file left out with its reason."""
        out: dict[str, Any] = {"files": self.files, "errors": [list(e) for e in self.errors]}
        if self.view is not None:
            out["distribution"] = self.view.metadata.get("distribution")
        return out


def count_files(services: Services, target: str) -> int:
    """How many files ``target`` holds (the walk an ingest makes, without reading a byte)."""
    storage, path = resolve_target(services.storage, target)
    return sum(1 for _ in storage.walk(path))


def enqueue(
    queue: JobQueue, recid: int, target: str, index_key: str | None, *, total: int, owner_id: int | None = None
) -> int:
    """Queue the ingest of ``target`` into ``recid``; the job's id."""
    payload = {"recid": recid, "target": target, "index": index_key, "total": total}
    return queue.enqueue(KIND, payload, ref=ref_of(recid), owner_id=owner_id, max_attempts=MAX_ATTEMPTS)


def run_ingest(
    services: Services,
    recid: int,
    target: str,
    index_key: str | None = None,
    *,
    progress: Callable[[str, int], None] | None = None,
) -> IngestOutcome:
    """Ingest every file under ``target`` into ``recid`` (see the module's docstring); ``progress(file, done)``
    after each file may raise (a cancel) to stop before anything is stored."""
    storage, path = resolve_target(services.storage, target)
    report = services.ingester.ingest_path(storage, path, progress=progress)
    outcome = IngestOutcome(None, list(report.errors), len(report.files))
    if not report.files:
        return outcome
    rows = report.file_rows(path)
    if not index_key:
        outcome.view = services.catalog.ingest_files(recid, rows, report.distribution())
    else:
        index_files, index = write_file_index(storage, path, index_key, rows)
        try:
            outcome.view = services.catalog.ingest_files(recid, index_files, report.distribution(), indices=[index])
        except BaseException:  # the catalogue refused: the index written for it goes too
            for row in index_files:
                local = storage.local_path(f"{path}/{row['key']}" if path else row["key"])
                if local is not None:
                    with contextlib.suppress(OSError):
                        os.remove(local)
            raise
    if storage is services.storage and outcome.view is not None:
        outcome.placed = services.placement.place(
            outcome.view.recid
        )  # restricted records' bytes leave the public export at once
    return outcome


class Throttled:
    """A progress callback writing the job's progress at most every :data:`PROGRESS_EVERY` seconds, checking for a
    cancel request at every file."""

    def __init__(self, queue: JobQueue, job_id: int, total: int, check_cancel: Callable[[], None]) -> None:
        self.queue = queue
        self.job_id = job_id
        self.total = total
        self.check_cancel = check_cancel
        self.last = 0.0

    def __call__(self, rel: str, done: int) -> None:
        self.check_cancel()
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY or done == self.total:
            self.last = now
            self.queue.report(self.job_id, {"done": done, "total": self.total, "file": rel})
