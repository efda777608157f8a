"""Background jobs as their owners, curators and admins see them (`/api/jobs`): reading one, listing them, and
cancelling one, each asked of the permission policy first.

Cancelling goes through the kind's own service where it has one (an analysis: `JobService.cancel`, which settles
its row); any other cancellable kind is cancelled in the queue, and a job cancelled while still queued has its
kind's ``give_up`` hook record that on its domain row (a launch's stream and session, a build, a delivery), as the
worker does for one cancelled while running.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from portal.errors import Conflict, Invalid, NotFound, Translate, Unavailable, stored_message
from portal.i18n import N_, translate_same
from portal.identity import policy
from portal.identity.principal import Principal
from portal.jobqueue.base import STATES, Entry, JobQueue

if TYPE_CHECKING:
    from portal.services import Services

#: the kinds a person may cancel, and the scope the owner's credential needs for it; the others (periodic work,
#: DOI registrations) are the portal's own and are left to run
CANCEL_SCOPES: dict[str, str] = {
    "analysis": "analyses:run",
    "launch": "launch",
    "env.build": "launch",
    "ingest": "deposit:write",
    "release.delivery": "deposit:write",
    "deposit.publish": "deposit:publish",
}


def job_json(entry: Entry, translate: Translate = translate_same) -> dict[str, Any]:
    """What the API shows of a job: never its payload (a launch's carries its hub user); its error through
    ``translate`` (the reader's language) when it was kept as a message id."""

    def when(moment: Any) -> str | None:
        return moment.isoformat() if moment is not None else None

    return {
        "id": entry.id,
        "kind": entry.kind,
        "ref": entry.ref,
        "state": entry.state,
        "progress": entry.progress,
        "attempts": entry.attempts,
        "max_attempts": entry.max_attempts,
        "error": stored_message(entry.error_message, translate) if entry.error_message else entry.error,
        "cancel_requested": entry.cancel_requested,
        "owner_id": entry.owner_id,
        "created_at": when(entry.created_at),
        "started_at": when(entry.started_at),
        "finished_at": when(entry.finished_at),
        "cancellable": entry.kind in CANCEL_SCOPES and entry.state in ("queued", "running"),
    }


class QueueJobs:
    """The jobs API's service over ``services.queue``."""

    def __init__(self, services: Services) -> None:
        if services.queue is None:
            raise Unavailable(N_("this portal has no job queue"))
        self.services = services
        self.queue: JobQueue = services.queue

    def get(self, job_id: int, who: Principal) -> Entry:
        """Job ``job_id``: 401 for nobody, 404 when there is none, 403 for someone else's."""
        if not who.authenticated:
            policy.require_see_queue_job(who, None)
        entry = self.queue.get(job_id)
        if entry is None:
            raise NotFound(N_("there is no job {job_id}"), job_id=job_id, field="job_id")
        policy.require_see_queue_job(who, entry.owner_id)
        return entry

    def list(
        self, who: Principal, *, kind: str | None, state: str | None, mine: bool, page: int, size: int
    ) -> tuple[list[Entry], int]:
        """A page of the jobs ``who`` may see, newest first (see :func:`policy.queue_listing_owner`)."""
        owner = policy.queue_listing_owner(who, mine=mine)
        if state is not None and state not in STATES:
            raise Invalid(N_("state must be one of {states}"), states=", ".join(STATES), field="state")
        return self.queue.entries(kind=kind, state=state, owner_id=owner, page=page, size=size)

    def cancel(self, job_id: int, who: Principal) -> Entry:
        """Cancel job ``job_id``: a queued one at once, a running one when its task next checks (it comes back still
        running, ``cancel_requested``). Conflict for a finished job or a kind nobody cancels."""
        entry = self.get(job_id, who)
        scope = CANCEL_SCOPES.get(entry.kind)
        if scope is None:
            raise Conflict(N_("jobs of kind {kind} are the portal's own and cannot be cancelled"), kind=entry.kind)
        policy.require_cancel_queue_job(who, entry.owner_id, scope)
        if entry.state not in ("queued", "running"):
            raise Conflict(
                N_("job {job_id} is {job_state} already; only queued or running jobs can be cancelled"),
                job_id=job_id,
                job_state=entry.state,
            )
        analyses = self.services.analyses
        if entry.kind == "analysis" and analyses is not None:
            analyses.cancel(int(entry.payload["job"]), who)  # its row and its queue job, as /api/analyses does
        elif self.queue.cancel_job(job_id) == "queued":
            from portal.jobqueue.tasks import TASKS

            kind = TASKS.get(entry.kind)
            if kind is not None and kind.give_up is not None:
                kind.give_up(self.services, entry.payload, f"cancelled by {who.label}")
        found = self.queue.get(job_id)
        assert found is not None
        return found
