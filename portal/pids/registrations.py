"""DOI registration that is never silent: every DOI to register is written to the pending-registration table in
the transaction that publishes (or revises) its record, sent to the provider after that transaction commits, and
retried with backoff until the registry has it; what failed is kept with the registry's reason for the owner's
record page and the admins' page.

With a job queue the first sending is a queue job too (kind ``pids.register``), queued in the publishing
transaction itself: the request commits and answers without waiting for the registry, and a crash between the
commit and the sending loses nothing (the job was committed with the rows). Without a queue (tests of parts) the
DOIs are sent right after the commit, in the committing thread.

:func:`retry_pending` is one round of retries. With a job queue, a failed registration schedules that round as a
queue job (kind ``pids.retry``) for when its backoff is over, and a round that leaves DOIs pending schedules the
next, so a `portal worker` retries until the registry has them; `portal pids retry` runs a round by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from portal.catalog.rows import latest_published
from portal.db.engine import Database
from portal.db.models import Concept, Record, utcnow
from portal.db.paging import page_of
from portal.errors import Invalid, PortalError, Unavailable
from portal.i18n import N_
from portal.identity import policy
from portal.identity.principal import Principal
from portal.jobqueue.base import JobQueue
from portal.pids.base import PIDProvider
from portal.pids.models import PIDRegistration

if TYPE_CHECKING:
    from portal.exports.service import ExportService
    from portal.services import Services

log = logging.getLogger(__name__)

#: the first retry waits this long, each later one twice as long as the one before, up to BACKOFF_MAX
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)
#: how many times one job sends a DOI whose record keeps changing while it is sent, before leaving it to a retry round
SENDS_WHILE_CHANGING = 3
_SESSION_KEY = "portal.pids.to_send"
_OWNER_KEY = "portal.pids.owner"


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC, aware (SQLite hands back naive ones)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


#: the queue job kind of a round of retries, and its ref (one queued round at a time is enough)
RETRY_KIND = "pids.retry"
#: the queue job kind of the first sending of the DOIs one transaction published
REGISTER_KIND = "pids.register"


def backoff(attempts: int, base: timedelta = BACKOFF_BASE) -> timedelta:
    """The wait after the ``attempts``-th failed attempt (1: ``base``)."""
    # the exponent is capped first: timedelta arithmetic overflows long before a registry has been down 50 times
    return min(base * 2 ** min(max(attempts - 1, 0), 20), BACKOFF_MAX)


@dataclass(frozen=True)
class Registration:
    """Where the registration of one DOI stands."""

    doi: str
    kind: str  # "version" | "concept"
    recid: int
    state: str  # "pending" | "registered" | "rejected"
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    error_field: str | None
    url: str | None
    registered_at: datetime | None

    @classmethod
    def of(cls, row: PIDRegistration) -> Registration:
        return cls(
            doi=row.doi,
            kind=row.kind,
            recid=row.recid,
            state=row.state,
            attempts=row.attempts,
            next_attempt_at=_utc(row.next_attempt_at) if row.state == "pending" else None,
            last_error=row.last_error,
            error_field=row.error_field,
            url=row.url,
            registered_at=_utc(row.registered_at) if row.registered_at else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "doi": self.doi,
            "kind": self.kind,
            "recid": self.recid,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "error": self.last_error,
            "field": self.error_field,
            "url": self.url,
            "registered_at": self.registered_at.isoformat() if self.registered_at else None,
        }


@dataclass
class RetryReport:
    """What one round of sending did, DOI by DOI."""

    registered: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # failed for now; retried later
    rejected: list[str] = field(default_factory=list)  # refused by the registry; waits for a change

    def to_json(self) -> dict[str, list[str]]:
        return {"registered": self.registered, "pending": self.pending, "rejected": self.rejected}


class Registrations:
    """Tracks and sends the DOIs of one provider; built only when the provider registers remotely."""

    def __init__(
        self,
        db: Database,
        provider: PIDProvider,
        exports: ExportService,
        *,
        base_url: str,
        clock: Callable[[], datetime] = utcnow,
        queue: JobQueue | None = None,
        backoff_base: timedelta = BACKOFF_BASE,
    ) -> None:
        """``queue``: where retries are scheduled (None: only `portal pids retry` retries)."""
        self.db = db
        self.queue = queue
        self.backoff_base = backoff_base
        self.provider = provider
        self.exports = exports
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        # only DOIs this portal minted: imported records keep DOIs registered by someone else
        self.prefix = str(getattr(provider, "prefix", "")).lower() + "/"

    # -- inside the writing transaction --------------------------------------------------------------------------
    def track(self, s: Session, rec: Record) -> None:
        """Catalogue observer: a published version (new, or a new revision) and its concept are to be registered
        again; when a version is removed, the concept follows the latest remaining version."""
        if rec.status not in ("published", "removed"):
            return
        dois: list[tuple[str, str, int]] = []
        if rec.status == "published" and rec.doi and self._ours(rec.doi):
            dois.append((rec.doi, "version", rec.recid))
        concept = s.get(Concept, rec.concept_recid)
        if concept is not None and concept.doi and self._ours(concept.doi):
            latest = latest_published(s, concept.recid)
            # the concept's metadata is its latest version's: only a change to that version changes it
            if latest is not None and (latest.recid == rec.recid or rec.status == "removed"):
                dois.append((concept.doi, "concept", concept.recid))
        if not dois:
            return
        moment = self.clock()
        for doi, kind, recid in dois:
            row = s.get(PIDRegistration, doi)
            if row is None:
                row = PIDRegistration(doi=doi, kind=kind, recid=recid, attempts=0)
                s.add(row)
            row.state = "pending"
            row.attempts = 0
            row.next_attempt_at = moment
            row.last_error = row.error_field = None
            row.changed_at = moment
        queued: dict[str, str] | None = s.info.get(_SESSION_KEY)
        if queued is None:
            queued = s.info[_SESSION_KEY] = {}
            if self.queue is not None:
                event.listen(s, "before_commit", self._enqueue, once=True)
            event.listen(s, "after_commit", self._after_commit, once=True)
        queued.update((doi, kind) for doi, kind, _recid in dois)
        # the job sending them belongs to the publishing record's owner, who may then follow it (`/api/jobs`)
        s.info.setdefault(_OWNER_KEY, rec.owner_id)

    @staticmethod
    def _in_order(queued: dict[str, str]) -> list[str]:
        # versions first: a concept's metadata names its versions' DOIs (HasVersion)
        return sorted(queued, key=lambda doi: (queued[doi] != "version", doi))

    def _ours(self, doi: str) -> bool:
        return doi.lower().startswith(self.prefix)

    def _enqueue(self, s: Session) -> None:
        """Before the publishing transaction commits: its DOIs' first sending, queued in it (kind pids.register)."""
        queued: dict[str, str] = s.info.get(_SESSION_KEY, {})
        if self.queue is not None and queued:
            dois = self._in_order(queued)
            self.queue.enqueue(
                REGISTER_KIND,
                {"dois": dois},
                ref=f"{REGISTER_KIND}:{dois[0]}",
                owner_id=s.info.pop(_OWNER_KEY, None),
                session=s,
            )

    def _after_commit(self, s: Session) -> None:
        queued: dict[str, str] = s.info.pop(_SESSION_KEY, {})
        s.info.pop(_OWNER_KEY, None)
        if self.queue is not None:  # queued with the rows: a worker sends them
            if queued:
                self.queue.wakeup.set()
            return
        dois = self._in_order(queued)
        try:
            self.send(dois)
        except Exception:  # the publication is committed; the rows stay pending and are retried
            log.exception("sending DOI registrations %s failed; they stay pending", ", ".join(dois))

    # -- sending -----------------------------------------------------------------------------------------------------
    def send(self, dois: Iterable[str]) -> RetryReport:
        """Send each DOI's current metadata to the provider and record the outcome."""
        report = RetryReport()
        queue = list(dois)
        for position, doi in enumerate(queue):
            outcome = self._send_one(doi)
            if outcome == "down":
                # the registry is unreachable or failing: the rest wait for the next round rather than each
                # holding the caller (a publishing request) for another timeout
                report.pending += queue[position:]
                break
            if outcome is not None:
                getattr(report, outcome).append(doi)
        if report.pending:
            self.schedule()
        return report

    def schedule(self) -> None:
        """Queue a round of retries for when the first failed DOI's backoff is over (DOIs not tried yet go in the
        same round), unless one is already queued by then."""
        if self.queue is None:
            return
        with self.db.reader() as s:
            first = select(func.min(PIDRegistration.next_attempt_at)).where(PIDRegistration.state == "pending")
            when = s.scalar(first.where(PIDRegistration.attempts > 0)) or s.scalar(first)
        if when is None:
            return
        when = _utc(when)
        queued = self.queue.find(RETRY_KIND)
        if queued is not None and queued.state == "queued" and queued.run_after and _utc(queued.run_after) <= when:
            return  # a round is due by then; it schedules the next if DOIs are left
        self.queue.enqueue(RETRY_KIND, {}, ref=RETRY_KIND, max_attempts=3, run_after=when)

    def _send_one(self, doi: str) -> str | None:
        """Send ``doi``'s current metadata; sent again while its record changed during the sending.

        Two jobs may send one DOI at once (a worker runs several, and a fix can follow a publication within
        seconds). The registry keeps whichever request reaches it last, which may be the one whose metadata is older:
        the job that sent it then finds the row changed and sends again, so the last request to land carries the
        newest metadata. (Only leaving the row pending would lose the fix: the other job has marked it registered,
        and a retry round skips registered rows.)"""
        for sending in range(SENDS_WHILE_CHANGING):
            # sent again even when the other job has marked it registered meanwhile: the registry may hold ours
            outcome = self._send_current(doi, again=sending > 0)
            if outcome != "changed":
                return outcome
        # still changing after as many sends: a retry round sends it once the changes have settled
        with self.db.transaction() as s:
            row = s.get(PIDRegistration, doi, with_for_update=True)
            if row is not None:
                row.state, row.next_attempt_at = "pending", self.clock()
        return "pending"

    def _send_current(self, doi: str, *, again: bool = False) -> str | None:
        with self.db.reader() as s:
            row = s.get(PIDRegistration, doi)
            if row is None or (row.state == "registered" and not again):
                return None
            kind, recid, changed_at = row.kind, row.recid, row.changed_at
        error: PortalError | None = None
        url: str | None = None
        try:
            url, metadata = self._metadata(kind, recid)
        except PortalError as err:  # the record went away meanwhile: retried later, the registry is not down
            error = Unavailable.like(err)
        else:
            try:
                self.provider.register(doi, url, metadata)
            except Invalid as err:
                error = err
            except PortalError as err:
                error = err if isinstance(err, Unavailable) else Unavailable.like(err)
            except Exception as err:  # a provider's bug must not lose the registration
                log.exception("registering %s failed", doi)
                error = Unavailable(N_("{name}: {err}"), name=type(err).__name__, err=err)
        moment = self.clock()
        with self.db.transaction() as s:
            row = s.get(PIDRegistration, doi, with_for_update=True)
            if row is None:
                return "pending"
            if row.changed_at != changed_at:
                return "changed"  # the record changed while this was sent: what reached the registry may be old
            if error is None:
                row.state, row.registered_at, row.url = "registered", moment, url
                row.last_error = row.error_field = None
                return "registered"
            row.attempts += 1
            row.last_error = error.detail
            if isinstance(error, Invalid):
                row.state, row.error_field = "rejected", error.field
                return "rejected"
            row.state, row.error_field = "pending", None
            row.next_attempt_at = moment + backoff(row.attempts, self.backoff_base)
            return "down" if url is not None else "pending"

    def _metadata(self, kind: str, recid: int) -> tuple[str, dict[str, Any]]:
        """The URL and the DataCite JSON to register now: a version's own; a concept's is its latest version's
        (HasVersion each version), resolving to that version's page."""
        from portal.exports.datacite import datacite_json

        if kind == "concept":
            versions = self.exports.catalog.versions(recid)
            latest = versions[0]
            data = self.exports.concept_datacite(latest.recid)
            return f"{self.base_url}/record/{latest.recid}", dict(data)
        rec = self.exports.record(recid)
        return rec.url, datacite_json(rec)

    # -- rounds and reading ------------------------------------------------------------------------------------------
    def retry(self, *, everything: bool = False) -> RetryReport:
        """Send every pending DOI whose wait is over (``everything``: every DOI not registered, rejected ones and
        those still waiting included: after an outage is over, or the registry's rules changed)."""
        with self.db.reader() as s:
            query = select(PIDRegistration.doi).where(PIDRegistration.state != "registered")
            if not everything:
                query = query.where(PIDRegistration.state == "pending", PIDRegistration.next_attempt_at <= self.clock())
            # versions first ("version" sorts after "concept"), as after a commit
            dois = list(s.scalars(query.order_by(PIDRegistration.kind.desc(), PIDRegistration.next_attempt_at)))
        if everything and dois:
            with self.db.transaction() as s:
                for row in s.scalars(select(PIDRegistration).where(PIDRegistration.doi.in_(dois))):
                    row.state = "pending"
        return self.send(dois)

    def of_record(self, recid: int, viewer: Principal) -> list[Registration]:
        """The registrations of version ``recid``'s DOI and of its concept's DOI, for its owner and curators (the
        policy); nothing for anyone else."""
        with self.db.reader() as s:
            rec = s.get(Record, recid)
            if rec is None or not policy.may_see_registrations(viewer, rec.owner_id):
                return []
            rows = s.scalars(
                select(PIDRegistration)
                .where(
                    ((PIDRegistration.kind == "version") & (PIDRegistration.recid == recid))
                    | ((PIDRegistration.kind == "concept") & (PIDRegistration.recid == rec.concept_recid))
                )
                .order_by(PIDRegistration.kind.desc())
            )
            return [Registration.of(r) for r in rows]

    def unfinished(self, *, page: int = 1, size: int = 50) -> tuple[list[Registration], int]:
        """DOIs not registered (pending and rejected), the longest-waiting first, and how many there are (callers
        ask ``policy.require_manage_registrations`` first)."""
        with self.db.reader() as s:
            pending = select(PIDRegistration).where(PIDRegistration.state != "registered")
            order = (PIDRegistration.changed_at, PIDRegistration.doi)
            rows, total = page_of(s, pending, *order, page=page, size=size)
            return [Registration.of(r) for r in rows], total


def retry_pending(services: Services) -> RetryReport:
    """One round of retries, for a scheduler to call: every pending DOI whose backoff is over is sent again."""
    if services.registrations is None:
        return RetryReport()
    return services.registrations.retry()
