"""The kinds of task a worker runs, registered by name in :data:`TASKS` with the :func:`task` decorator.

Adding a kind (DOI registration, webhook delivery, statistics aggregation, a fixity audit, …) is one function
here::

    @task("fixity_audit", max_attempts=2)
    def fixity_audit(services: Services, run: TaskRun) -> None:
        services.preservation.audit(run.payload["recid"])

and one ``services.queue.enqueue("fixity_audit", {"recid": 5})`` where the work is asked for. The function runs in
a `portal worker` process with that process's services; it raises :class:`~portal.jobqueue.base.TaskFailed` for
a failure (``retry=True`` to try again after a backoff), calls ``run.check_cancel()`` between steps when it can
be cancelled, and must be safe to run again from the start: a job whose worker died is run again. ``give_up``
records a failure the queue settles without the task (no attempts left after its worker was lost).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from portal.errors import Conflict, PortalError
from portal.i18n import N_
from portal.jobqueue.base import CANCELLED, Cancelled, Claimed, TaskFailed

if TYPE_CHECKING:
    from portal.services import Services
    from portal.settings import Settings


@dataclass
class TaskRun:
    """One attempt at a job, as its task sees it: the payload, the attempt number, and whether to stop."""

    job: Claimed
    #: set by the worker's heartbeat when cancelling was requested or the job was taken from this worker
    stop: threading.Event = field(default_factory=threading.Event)
    why: str = CANCELLED  # a message id: the job keeps it and its reader sees it in their language
    #: whether ``stop`` means a cancel request (and not a worker stopping or losing the job)
    cancel_requested: bool = False

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    @property
    def attempt(self) -> int:
        return self.job.attempt

    def check_cancel(self) -> None:
        """Raise :class:`Cancelled` when the task should stop (call it between chunks of work)."""
        if self.stop.is_set():
            raise Cancelled(self.why)


@dataclass(frozen=True)
class TaskKind:
    name: str
    run: Callable[[Services, TaskRun], None]
    max_attempts: int = 3
    #: seconds before the first retry; each further retry waits twice as long
    backoff: float = 5.0
    give_up: Callable[[Services, dict[str, Any], str], None] | None = None
    #: a periodic kind: its interval in seconds from the settings (0 or less: off); see :mod:`portal.jobqueue.periodic`
    every: Callable[[Settings], float] | None = None
    #: a kind that mostly waits for other jobs (a launch waits for its build): a worker claims it on threads of its
    #: own, so jobs of it never hold every thread while the jobs they wait for stay queued
    own_threads: bool = False


TASKS: dict[str, TaskKind] = {}


def task(
    name: str,
    *,
    max_attempts: int = 3,
    backoff: float = 5.0,
    give_up: Callable[[Services, dict[str, Any], str], None] | None = None,
    every: Callable[[Settings], float] | None = None,
    own_threads: bool = False,
) -> Callable[[Callable[[Services, TaskRun], None]], Callable[[Services, TaskRun], None]]:
    """Register the decorated function as the task of kind ``name`` (``every``: a periodic one)."""

    def register(fn: Callable[[Services, TaskRun], None]) -> Callable[[Services, TaskRun], None]:
        if name in TASKS:
            raise ValueError(f"task kind {name!r} is registered twice")
        TASKS[name] = TaskKind(
            name, fn, max_attempts=max_attempts, backoff=backoff, give_up=give_up, every=every, own_threads=own_threads
        )
        return fn

    return register


# ---------------------------------------------------------------------------------------------- analyses
def _analysis_given_up(services: Services, payload: dict[str, Any], reason: str) -> None:
    if services.analyses is not None:
        services.analyses.give_up(int(payload["job"]), reason)


@task("analysis", max_attempts=3, backoff=2.0, give_up=_analysis_given_up)
def analysis(services: Services, run: TaskRun) -> None:
    """An analysis job (`JobService.run`): a retry after a lost or stopped worker starts again from the first chunk."""
    jobs = services.analyses
    if jobs is None:
        raise TaskFailed(N_("analysis jobs need the processing extra on the worker"))
    job_id = int(run.payload["job"])
    try:
        # the queue hands a job to one worker at a time: a job found running was left by a lost or stopped worker
        job = jobs.run(job_id, restart=True, check_cancel=run.check_cancel)
    except Cancelled:
        if run.cancel_requested:
            jobs.mark_cancelled(job_id)
        raise
    except Conflict as exc:  # cancelled while queued, just before this worker claimed it
        raise TaskFailed.like(exc) from exc
    if job.state == "failed":
        raise TaskFailed(job.error or "failed")


# ---------------------------------------------------------------------------------------------- environment builds
def _build_given_up(services: Services, payload: dict[str, Any], reason: str) -> None:
    if services.launches is not None:
        services.launches.build_given_up(int(payload["run"]), reason)


# two attempts: one more after a lost worker; a build that fails by itself fails for good (TaskFailed, no retry)
@task("env.build", max_attempts=2, backoff=1.0, give_up=_build_given_up)
def env_build(services: Services, run: TaskRun) -> None:
    """An environment build a launch asked for (`LaunchManager.run_build`); its log goes to the database."""
    if services.launches is None:
        raise TaskFailed(N_("environment builds need the launch extra on the worker"))
    services.launches.run_build(int(run.payload["run"]), attempt=run.attempt, check_cancel=run.check_cancel)


# ---------------------------------------------------------------------------------------------- launches
def _session_ended(services: Services, payload: dict[str, Any], last: dict[str, Any]) -> None:
    """Record how a launch ended on its "my sessions" row (the row's quota slot is freed with it)."""
    session_id = payload.get("session")
    if session_id is None:
        return
    from portal.environments.builders import TEXT_KEY

    ready = last.get("phase") == "ready"
    url = last.get("url")
    text = last.get(TEXT_KEY)
    services.sessions.finish(
        int(session_id),
        "ready" if ready else "failed",
        url=str(url) if ready and url else None,
        message=str(last.get("message") or "") or None,
        message_text=dict(text) if isinstance(text, dict) else None,
        recid=payload.get("recid"),
    )


def _launch_given_up(services: Services, payload: dict[str, Any], reason: str) -> None:
    if services.launches is not None:
        services.launches.launch_given_up(payload, reason)
    from portal.environments.builders import BuildEvent

    gone = BuildEvent.failure(PortalError(N_("the launch did not finish: {reason}"), reason=reason))
    _session_ended(services, payload, gone.as_dict())


# two attempts: one more after a lost worker (a launch is safe to run again); one that fails by itself is final
@task("launch", max_attempts=2, backoff=1.0, give_up=_launch_given_up, own_threads=True)
def launch(services: Services, run: TaskRun) -> None:
    """A launch a web process queued (`LaunchManager.run_queued`): resolve its source, wait for its build (at most
    `launch_build_timeout` s), start its server on the hub; its events go to `launch_events`."""
    if services.launches is None:
        raise TaskFailed(N_("launches need the launch extra on the worker"))
    last = services.launches.run_queued(run.payload, attempt=run.attempt, check_cancel=run.check_cancel)
    _session_ended(services, run.payload, last)
    if last.get("phase") != "ready":
        from portal.environments.builders import TEXT_KEY

        english, text = str(last.get("message") or "the launch failed"), last.get(TEXT_KEY)
        raise TaskFailed.kept_as(text, english) if isinstance(text, dict) else TaskFailed(english)


# ---------------------------------------------------------------------------------------------- release webhooks
def _delivery_given_up(services: Services, payload: dict[str, Any], reason: str) -> None:
    services.releases.given_up(int(payload["delivery"]), reason)


@task("release.delivery", max_attempts=2, backoff=1.0, give_up=_delivery_given_up)
def release_delivery(services: Services, run: TaskRun) -> None:
    """A verified webhook delivery (`ReleaseService.process`): fetch the tag's archive and citation files, publish
    the new version. Its outcome is recorded on the delivery; a failed one is retried by a person, not here."""
    # a second attempt runs only after the first's worker was lost: the delivery it left "processing" is taken over
    view = services.releases.process(int(run.payload["delivery"]), take_over=run.attempt > 1)
    if view.outcome == "failed":
        raise TaskFailed(view.reason)


# ---------------------------------------------------------------------------------------------- DOI registrations
@task("pids.register", max_attempts=3, backoff=5.0)
def pids_register(services: Services, run: TaskRun) -> None:
    """The first sending of the DOIs a publication (or a new revision) committed (`Registrations.send`): each one's
    outcome is kept on its row (registered, pending with the registry's reason, rejected naming the field); one
    left pending schedules a round of `pids.retry` after its backoff. Sending again is harmless (the registry
    updates the DOI), so a lost worker's job simply runs again."""
    if services.registrations is not None:
        services.registrations.send([str(doi) for doi in run.payload.get("dois") or []])


@task("pids.retry", max_attempts=3, backoff=60.0)
def pids_retry(services: Services, run: TaskRun) -> None:
    """A round of DOI registration retries (`Registrations.retry`), scheduled for when a failed registration's
    backoff is over; a round leaving DOIs pending schedules the next. What failed is kept on each DOI's row."""
    if services.registrations is not None:
        services.registrations.retry()


# ---------------------------------------------------------------------------------------------- large ingests
@task("ingest", max_attempts=2, backoff=5.0)
def ingest(services: Services, run: TaskRun) -> None:
    """An ingest of more files than `ingest_queue_files` (`files.ingest_jobs.run_ingest`): progress on the job,
    cancellation between files, everything stored in one transaction at the end (a cancelled or failed ingest
    stores nothing). Files left out (damaged) are listed in the final progress; the job still succeeds."""
    from portal.files.ingest_jobs import Throttled, run_ingest

    assert services.queue is not None
    payload = run.payload
    follow = Throttled(services.queue, run.job.id, int(payload.get("total") or 0), run.check_cancel)
    try:
        outcome = run_ingest(
            services, int(payload["recid"]), str(payload["target"]), payload.get("index"), progress=follow
        )
    except Cancelled:
        raise
    except PortalError as exc:  # a refused target or record: running it again would be refused again
        raise TaskFailed(exc.detail) from exc
    services.queue.report(run.job.id, {"done": follow.total, "total": follow.total, **outcome.summary()})


# ---------------------------------------------------------------------------------------------- large deposits
def _publish_given_up(services: Services, payload: dict[str, Any], reason: str) -> None:
    services.deposit.publish_given_up(str(payload.get("folder") or ""))


@task("deposit.publish", max_attempts=2, backoff=5.0, give_up=_publish_given_up)
def deposit_publish(services: Services, run: TaskRun) -> None:
    """The publication of a large deposit (`DepositService.queue_publish`): the draft's uploads placed in the job's
    folder, ingested, and the version published in one transaction (`DepositService.publish`). Run again after a
    lost worker it starts over in the same folder; a refusal (a damaged file, a permission lost meanwhile) is final,
    the draft left a draft with the reason on the job. A curator's review (`ReviewService.accept`) is accepted in
    that transaction, or stays submitted when the job fails."""
    from portal.files.ingest_jobs import Throttled
    from portal.identity.principal import COMMAND_LINE

    assert services.queue is not None
    payload = run.payload
    user = payload.get("user")
    total = int(payload.get("files") or 0)
    # files ingested of the total on the job, and a cancel honoured between files (before anything is published)
    follow = Throttled(services.queue, run.job.id, total, run.check_cancel)
    try:
        actor = services.users.get(int(user)).principal() if user is not None else COMMAND_LINE
        recid, folder = int(payload["recid"]), str(payload["folder"])
        review = payload.get("review")
        if isinstance(review, dict):  # a curator's acceptance: the request changes in the publishing transaction
            view = services.review.publish_queued(recid, review, actor=actor, folder=folder, progress=follow)
        else:
            view = services.deposit.publish(recid, actor=actor, folder=folder, progress=follow)
    except Cancelled:
        raise
    except PortalError as exc:
        raise TaskFailed(exc.detail) from exc
    services.queue.report(run.job.id, {"done": total, "total": total, "recid": view.recid, "doi": view.doi})


# ---------------------------------------------------------------------------------------------- periodic work
@task("stats.aggregate", max_attempts=2, backoff=30.0, every=lambda s: s.stats_aggregate_interval)
def stats_aggregate(services: Services, run: TaskRun) -> None:
    """Usage statistics counted the COUNTER way (`StatsService.aggregate`: recounts the hours that may change)."""
    services.stats.aggregate()


@task("files.audit", max_attempts=1, every=lambda s: s.audit_interval)
def files_audit(services: Services, run: TaskRun) -> None:
    """A fixity audit of every stored file at `audit_rate` MB/s; findings go to the alerts log and the report to
    `<var_dir>/audits/` (as `portal files audit` writes it). Not retried: the next period audits again."""
    services.preservation.audit_files(rate=services.settings.audit_rate * 1e6 or None)


def _prune_every(settings: Settings) -> float:
    return settings.launch_events_prune_interval if settings.launch_events_keep_days > 0 else 0.0


@task("launch.prune", max_attempts=1, every=_prune_every)
def launch_prune(services: Services, run: TaskRun) -> None:
    """Delete the events of launches finished more than `launch_events_keep_days` days ago (`LaunchEvents.prune`);
    the count goes to the job's progress. Not retried: the next period prunes again."""
    from datetime import UTC, datetime, timedelta

    from portal.launch.queued import LaunchEvents

    keep = timedelta(days=services.settings.launch_events_keep_days)
    deleted = LaunchEvents(services.db).prune(datetime.now(UTC) - keep)
    if services.queue is not None:
        services.queue.report(run.job.id, {"deleted": deleted})
