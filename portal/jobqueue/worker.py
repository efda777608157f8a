"""A worker: threads that claim jobs from the queue and run their tasks, and one that sends heartbeats, passes on
cancel requests and recovers jobs of dead workers. `portal worker` runs one per process; tests run one in a
thread of the test process (a real worker on the test's database)."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from portal.jobqueue.base import RELEASED, TAKEN, Cancelled, JobQueue, TaskFailed
from portal.jobqueue.database import worker_name
from portal.jobqueue.periodic import ensure, ref_of
from portal.jobqueue.tasks import TASKS, TaskKind, TaskRun

if TYPE_CHECKING:
    from portal.services import Services

log = logging.getLogger(__name__)


class Worker:
    """Runs queued jobs of the kinds in :data:`TASKS` with ``concurrency`` threads (and as many more for the kinds
    that wait for other jobs, ``own_threads``: launches).

    ``heartbeat_timeout``: a job whose worker sent no heartbeat for that long is someone else's to recover; this
    worker beats three times per timeout (at least once a second, so cancel requests arrive quickly).
    ``periodic``: queue the first run of each periodic kind none is queued for (:mod:`portal.jobqueue.periodic`);
    any worker that ends a periodic run queues the next.
    """

    def __init__(
        self,
        services: Services,
        *,
        concurrency: int = 2,
        poll_interval: float = 1.0,
        heartbeat_timeout: float = 30.0,
        worker_id: str | None = None,
        kinds: dict[str, TaskKind] | None = None,
        periodic: bool = False,
    ) -> None:
        if services.queue is None:
            raise ValueError("no job queue is configured")
        self.services = services
        self.queue: JobQueue = services.queue
        self.kinds = kinds if kinds is not None else TASKS
        self.concurrency = max(1, concurrency)
        self.poll_interval = poll_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.worker_id = worker_id or worker_name()
        self.periodic = periodic
        self.stopping = threading.Event()
        self.running: dict[int, TaskRun] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Worker:
        for kind in self.kinds.values() if self.periodic else ():
            self._next_period(kind)
        # kinds that wait for other jobs (launches wait for builds) get threads of their own: otherwise `concurrency`
        # launches could hold every thread while the builds they wait for stay queued
        general = [name for name, kind in self.kinds.items() if not kind.own_threads]
        waiting = [name for name, kind in self.kinds.items() if kind.own_threads]
        for group, prefix in ((general, "worker"), (waiting, "worker-waits")):
            for i in range(self.concurrency if group else 0):
                self._spawn(lambda kinds=group: self._claim_loop(kinds), f"{prefix}-{i}")
        self._spawn(self._beat_loop, "worker-heartbeat")
        log.info("worker %s started: %d threads, kinds %s", self.worker_id, self.concurrency, ", ".join(self.kinds))
        return self

    def _spawn(self, target: object, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def stop(self, grace: float = 30.0) -> None:
        """Claim nothing more; give running jobs ``grace`` seconds to finish, then release them to the queue."""
        self.stopping.set()
        self.queue.wakeup.set()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            left = dict(self.running)
        for job_id, run in left.items():
            run.why = RELEASED
            run.stop.set()
            self.queue.release(job_id, self.worker_id)
            log.info("worker %s released job %d", self.worker_id, job_id)

    def wait(self) -> None:
        """Block until :meth:`stop` was called (by a signal handler)."""
        while not self.stopping.wait(1.0):
            pass

    # ------------------------------------------------------------------ claiming and running
    def _claim_loop(self, kinds: list[str]) -> None:
        while not self.stopping.is_set():
            try:
                job = self.queue.claim(self.worker_id, kinds)
            except Exception:  # a database restarting: try again after a pause
                log.exception("worker %s could not claim", self.worker_id)
                self.stopping.wait(self.poll_interval)
                continue
            if job is None:
                if self.queue.wakeup.wait(self.poll_interval):
                    self.queue.wakeup.clear()
                continue
            self.run_one(TaskRun(job))

    def run_one(self, run: TaskRun) -> None:
        """Run one claimed job and settle it in the queue."""
        job, kind = run.job, self.kinds[run.job.kind]
        with self._lock:
            self.running[job.id] = run
        try:
            kind.run(self.services, run)
        except Cancelled as exc:
            if not self.stopping.is_set():
                self.queue.finish(job.id, self.worker_id, "cancelled", exc.message, error_message=exc.stored())
            if run.cancel_requested and kind.give_up is not None:
                # someone cancelled it (`POST /api/jobs/<id>/cancel`): its domain row ends saying so (a launch's
                # stream and session, a build, a delivery); one that recorded its own end is left as it is
                kind.give_up(self.services, job.payload, "cancelled")
        except Exception as exc:  # noqa: BLE001 - any failure of a task is recorded on its job
            retry = exc.retry if isinstance(exc, TaskFailed) else True
            message = exc.message if isinstance(exc, TaskFailed) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, TaskFailed):
                log.exception("job %d (%s) failed", job.id, job.kind)
            stored = exc.stored() if isinstance(exc, TaskFailed) else None  # translated where it is read
            final = self.queue.fail(
                job.id, self.worker_id, message, retry=retry, backoff=kind.backoff, error_message=stored
            )
            if final and kind.give_up is not None:
                kind.give_up(self.services, job.payload, message)
        else:
            self.queue.finish(job.id, self.worker_id, "succeeded")
        finally:
            with self._lock:
                self.running.pop(job.id, None)
            if job.ref == ref_of(kind.name):
                self._next_period(kind)

    def _next_period(self, kind: TaskKind) -> None:
        """Queue the next run of a periodic kind (none when one is queued or running already)."""
        if kind.every is None:
            return
        try:
            ensure(self.queue, kind, kind.every(self.services.settings))
        except Exception:  # a database restarting: the next run's end, or the next worker's start, queues it
            log.exception("worker %s could not queue the next %s", self.worker_id, kind.name)

    # ------------------------------------------------------------------ heartbeats and recovery
    def _beat_loop(self) -> None:
        interval = min(self.heartbeat_timeout / 3, 1.0)
        while not self.stopping.wait(interval):
            try:
                self.beat()
            except Exception:
                log.exception("worker %s: heartbeat failed", self.worker_id)

    def beat(self) -> None:
        """One heartbeat for the running jobs, their cancel flags passed on, then recovery of dead workers' jobs."""
        with self._lock:
            runs = dict(self.running)
        held = self.queue.heartbeat(self.worker_id, runs)
        for job_id, run in runs.items():
            if job_id not in held:
                run.why = TAKEN
                run.stop.set()
            elif held[job_id]:
                run.cancel_requested = True
                run.stop.set()
        for given in self.queue.recover(self.heartbeat_timeout):
            log.warning("job %d (%s) failed: %s", given.id, given.kind, given.reason)
            kind = self.kinds.get(given.kind)
            if kind is not None and kind.give_up is not None:
                kind.give_up(self.services, given.payload, given.reason)
            if kind is not None:
                self._next_period(kind)
