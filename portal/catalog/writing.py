"""What every catalogue write shares: observers called inside the writing transaction, DOIs minted and
registered at publication, and recids allocated safely under concurrency."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import false, func, select, update
from sqlalchemy.orm import Session

from portal.db.engine import Database
from portal.db.models import Concept, Record
from portal.identity.audit import AuditLog
from portal.pids.base import PIDProvider

# Key of the PostgreSQL advisory lock that serialises recid allocation ("recid" in ASCII).
RECID_LOCK = 0x7265636964


class Writer:
    """Shared by the loading and the versioning parts of the catalogue."""

    def __init__(
        self,
        db: Database,
        pids: PIDProvider,
        *,
        first_recid: int,
        base_url: str,
        publisher: str,
        audit: AuditLog | None = None,
    ) -> None:
        self.db = db
        self.audit = audit  # publications are audited when given
        self.pids = pids
        self.first_recid = first_recid
        self.base_url = base_url.rstrip("/")
        self.publisher = publisher
        # Called inside the writing transaction after a record version changed (metadata, files or status),
        # so derived tables (OAI sets, search documents) commit or roll back with the change itself.
        self.observers: list[Callable[[Session, Record], None]] = []

    def changed(self, s: Session, rec: Record) -> None:
        s.flush()
        for observer in self.observers:
            observer(s, rec)

    def publish_pids(self, s: Session, rec: Record, concept: Concept) -> None:
        """Mint the version's and the concept's DOIs when they have none. Registering them with a registry is
        not done here, inside the transaction, but by an observer (``portal.pids.registrations``) that queues them
        in the same transaction and sends them once it has committed."""
        if not rec.doi:
            rec.doi = self.pids.mint(rec.recid)
        if not concept.doi:
            concept.doi = self.pids.mint(concept.recid)
        s.flush()

    def touch(self, concept_recid: int, change: Callable[[Session], None]) -> None:
        """Run ``change(session)`` (a change to what a record's exports show that lives outside its metadata, such
        as who cites it) and, in the same transaction, mark every published version of ``concept_recid`` changed: a
        new datestamp for OAI-PMH harvesters, and the observers called (search index, DOI registration)."""
        with self.db.transaction() as s:
            change(s)
            versions = s.scalars(
                select(Record).where(Record.concept_recid == concept_recid, Record.status == "published")
            ).all()
            moment = datetime.now(UTC)
            for rec in versions:
                rec.updated_at = moment
                self.changed(s, rec)

    def next_recid(self, s: Session, *, above: int = 0) -> int:
        """The next free recid: above every version and concept id, above ``above`` (a recid the transaction is
        about to store) and at least ``first_recid``. It is read under a lock held until the transaction ``s``
        ends, so no concurrent transaction is given the same one.

        The next recid after this one is free as well, for the caller's transaction alone (a new record takes
        two: its concept and its first version).

        A lock rather than a sequence or a retry: allocation is rare (curation, publishing a result), so
        serialising it costs nothing; a sequence would have to be kept above the recids records are imported
        with, and a retry would replay a transaction whose observers and PID registration have side effects.
        """
        if self.db.dialect == "postgresql":
            s.execute(select(func.pg_advisory_xact_lock(RECID_LOCK)))
        else:
            # SQLite has one writer at a time: a write that changes nothing takes the database's write lock now,
            # not at the first insert, so the max() below cannot be read stale by two transactions.
            s.execute(update(Concept).where(false()).values(recid=Concept.recid))
        top = max(s.scalar(select(func.max(Record.recid))) or 0, s.scalar(select(func.max(Concept.recid))) or 0)
        return max(top + 1, above + 1, self.first_recid)
