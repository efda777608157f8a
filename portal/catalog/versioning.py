"""Versions as Zenodo has them: a new version starts as a draft copy of the latest, drafts change freely,
publishing gives a draft its DOI, and a published version's metadata may be fixed (a new revision) but
never its files."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.catalog.filelists import change_direct_files, copy_files, replace_files
from portal.catalog.model import IndexSpec, RecordInput
from portal.catalog.results import RecordView
from portal.catalog.rows import (
    concept_of,
    get_record,
    latest_published,
    now,
    record_view,
    stored_metadata,
    tombstone,
)
from portal.catalog.schema import validate_record
from portal.catalog.writing import Writer
from portal.db.models import Concept, Record
from portal.errors import Conflict, Invalid, NotFound
from portal.i18n import N_
from portal.identity import policy
from portal.identity.principal import COMMAND_LINE, Principal


class RecordVersions:
    """Drafts, publication and metadata fixes, each in one transaction."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.db = writer.db

    def new_version(self, recid: int, *, actor: Principal = COMMAND_LINE, owner_id: int | None = None) -> RecordView:
        """Start a new version of the concept of ``recid``: a draft copy of its latest published version, owned
        by ``actor`` (the web passes the request's principal; the command line may do anything), or by
        ``owner_id`` when a curator hands the draft to someone.

        Raises:
            NotFound: no such record, or no published version to start from.
            Unauthorized, Forbidden: ``actor`` is not an owner of the record nor a curator (policy).
            Conflict: the concept has a draft already.
        """
        with self.db.transaction() as s:
            concept_recid = concept_of(s, recid)
            latest = latest_published(s, concept_recid)
            if latest is None:
                raise NotFound(N_("no published version to start from"), record=recid)
            policy.require_new_version(actor, [latest.owner_id])
            if owner_id is not None:
                policy.require_hand_over(actor)
            draft = s.scalar(select(Record).where(Record.concept_recid == concept_recid, Record.status == "draft"))
            if draft is not None:
                raise Conflict(
                    N_("record {recid} is already a draft new version; publish or discard it first"),
                    recid=draft.recid,
                    record=recid,
                )
            new_recid = self.writer.next_recid(s)
            moment = now()
            data = copy.deepcopy(latest.data)
            data.pop("version", None)
            data["recid"] = str(new_recid)
            draft = Record(
                recid=new_recid,
                concept_recid=concept_recid,
                version_index=latest.version_index + 1,
                status="draft",
                doi=None,
                title=latest.title,
                type_primary=latest.type_primary,
                data=data,
                content_hash="",
                files_hash=latest.files_hash,
                revision=1,
                source=f"new version of {latest.recid}",
                created_at=moment,
                updated_at=moment,
                # the command line starts drafts for the record's owner, if it has one
                owner_id=owner_id or (actor.user_id if actor.user_id is not None else latest.owner_id),
            )
            s.add(draft)
            s.flush()
            copy_files(s, latest.recid, new_recid)
            self.writer.changed(s, draft)
            return record_view(s, draft)

    def create_draft(self, metadata: dict[str, Any], *, actor: Principal, source: str = "deposit") -> RecordView:
        """A new record as a draft: a new concept and its first version, unpublished and owned by ``actor``.

        Raises:
            Invalid: the metadata names a recid, DOI or concept, or fails the record schema (naming the field).
            Unauthorized, Forbidden: ``actor`` lacks ``deposit:write`` (policy).
        """
        policy.require_scope(actor, "deposit:write")
        for given in ("recid", "conceptrecid", "doi", "conceptdoi"):
            if metadata.get(given) is not None:
                raise Invalid(
                    N_("a new draft gets its {given} from the catalogue; leave it out"), given=given, field=given
                )
        with self.db.transaction() as s:
            concept_recid = self.writer.next_recid(s)  # concept_recid + 1 is this transaction's too
            recid = concept_recid + 1
            md = {**metadata, "recid": str(recid)}
            validate_record(md)
            data = stored_metadata(md, self.writer.publisher)
            moment = now()
            s.add(Concept(recid=concept_recid, doi=None))
            s.flush()
            draft = Record(
                recid=recid,
                concept_recid=concept_recid,
                version_index=1,
                status="draft",
                doi=None,
                title=data["title"],
                type_primary=data["type"]["primary"],
                data=data,
                content_hash="",
                files_hash=RecordInput(metadata=md).files_hash(),
                revision=1,
                source=source,
                created_at=moment,
                updated_at=moment,
                owner_id=actor.user_id,
            )
            s.add(draft)
            self.writer.changed(s, draft)
            return record_view(s, draft)

    def require_draft(self, recid: int, *, actor: Principal) -> RecordView:
        """The draft ``recid`` when ``actor`` may change it (its owner or a curator, with ``deposit:write``).

        Raises:
            NotFound: no such record. Conflict: it is published (start a new version). Unauthorized, Forbidden.
        """
        with self.db.reader() as s:
            rec = get_record(s, recid)
            policy.require_edit_draft(actor, rec.owner_id, recid)
            if rec.status != "draft":
                raise Conflict(
                    N_("this version is published and its files are immutable; start a new version"), record=recid
                )
            return record_view(s, rec)

    def update_draft(
        self,
        recid: int,
        metadata: dict[str, Any],
        *,
        files: list[dict[str, Any]] | None = None,
        indices: list[IndexSpec] | None = None,
        actor: Principal = COMMAND_LINE,
    ) -> RecordView:
        """Replace a draft's metadata (and, when given, its files). Published versions are refused (Conflict);
        ``actor`` must own the draft or be a curator (Unauthorized, Forbidden)."""
        with self.db.transaction() as s:
            rec = get_record(s, recid)
            policy.require_edit_draft(actor, rec.owner_id, recid)
            if rec.status != "draft":
                raise Conflict(N_("only a draft can change its files; start a new version"), record=recid)
            md = {**metadata, "recid": str(recid)}
            validate_record(md)
            rec.data = stored_metadata(md, self.writer.publisher)
            rec.title = rec.data["title"]
            rec.type_primary = rec.data["type"]["primary"]
            rec.updated_at = now()
            rec.revision += 1
            if files is not None or indices is not None:
                item = RecordInput(metadata=md, files=files or [], indices=indices or [])
                replace_files(s, recid, item)
                rec.files_hash = item.files_hash()
            self.writer.changed(s, rec)
            return record_view(s, rec)

    def edit_metadata(self, recid: int, metadata: dict[str, Any]) -> RecordView:
        """A metadata fix of a published version (a new revision, no new DOI). File fields are refused
        (Conflict), and so is a draft."""
        forbidden = [k for k in ("files", "file_indices", "_file_indices") if k in metadata]
        if forbidden:
            raise Conflict(
                N_("files of a published version cannot change; start a new version"), record=recid, field=forbidden[0]
            )
        with self.db.transaction() as s:
            rec = get_record(s, recid)
            if rec.status != "published":
                raise Conflict(N_("this is a draft; use update_draft"), record=recid)
            md = {**metadata, "recid": str(recid)}
            if rec.doi:
                md.pop("doi", None)
            validate_record(md)
            rec.data = stored_metadata(md, self.writer.publisher)
            rec.title = rec.data["title"]
            rec.type_primary = rec.data["type"]["primary"]
            rec.revision += 1
            rec.updated_at = now()
            self.writer.changed(s, rec)
            return record_view(s, rec)

    def reserve_doi(self, recid: int, doi: str) -> None:
        """Keep ``doi`` as the draft's DOI (reserved with the provider by the caller): publishing keeps it rather
        than minting one. Conflict unless ``recid`` is a draft."""
        with self.db.transaction() as s:
            rec = get_record(s, recid)
            if rec.status != "draft":
                raise Conflict(N_("only a draft reserves a DOI; a published version has its own"), record=recid)
            if not rec.doi:
                rec.doi = doi
                rec.updated_at = now()

    def change_draft_files(
        self, recid: int, *, remove: list[str], add: list[dict[str, Any]], actor: Principal = COMMAND_LINE
    ) -> RecordView:
        """Drop the direct files keyed ``remove`` from a draft and append ``add`` (file indices stay); its owner or a
        curator. Raises Conflict for a published version."""
        with self.db.transaction() as s:
            rec = get_record(s, recid)
            policy.require_edit_draft(actor, rec.owner_id, recid)
            if rec.status != "draft":
                raise Conflict(N_("only a draft can change its files; start a new version"), record=recid)
            rec.files_hash = change_direct_files(s, recid, remove, add)
            rec.updated_at = now()
            self.writer.changed(s, rec)
            return record_view(s, rec)

    def publish(
        self,
        recid: int,
        *,
        actor: Principal = COMMAND_LINE,
        remove: list[str] | None = None,
        add: list[dict[str, Any]] | None = None,
        owners_publish: bool = False,
        authorize: Callable[[Principal, int | None], None] | None = None,
        also: Callable[[Session], None] | None = None,
    ) -> RecordView:
        """Publish a draft: it gets its DOI (and the concept its DOI, the first time) and becomes the latest.
        Raises Conflict when it is published already; Unauthorized or Forbidden unless ``actor`` is a curator
        (or, with ``owners_publish``, the draft's owner). ``remove`` and ``add`` change the draft's direct files
        (as :meth:`change_draft_files`) and ``also(session)`` runs (the deposit's bookkeeping), all in the same
        transaction. The publication is written to the audit log in the same transaction."""
        with self.db.transaction() as s:
            rec = get_record(s, recid)
            if rec.status == "removed":
                raise tombstone(rec)  # a removed version is never published again
            if authorize is not None:  # the caller's rule (a collection curator accepting a review)
                authorize(actor, rec.owner_id)
            elif owners_publish:
                policy.require_publish_own(actor, rec.owner_id)
            else:
                policy.require_publish(actor)
            if rec.status == "published":
                raise Conflict(N_("this version is already published"), record=recid)
            validate_record({**rec.data, "recid": str(recid)})
            if remove or add:
                rec.files_hash = change_direct_files(s, recid, remove or [], add or [])
            if also is not None:
                also(s)
            concept = s.get(Concept, rec.concept_recid)
            assert concept is not None
            rec.status = "published"
            rec.published_at = rec.updated_at = now()
            rec.content_hash = hashlib.sha256(
                (json.dumps(rec.data, sort_keys=True) + rec.files_hash).encode()
            ).hexdigest()
            self.writer.publish_pids(s, rec, concept)
            self.writer.changed(s, rec)
            if self.writer.audit is not None:
                self.writer.audit.add(actor, "record.publish", f"record {recid}", {"doi": rec.doi}, session=s)
            return record_view(s, rec)

    def remove(
        self, recid: int, *, reason: str, citation: str, also: Callable[[Session, Record], None] | None = None
    ) -> None:
        """Remove a published version, leaving its tombstone: status "removed" with the time, the reason and the
        citation; its files rows stay (the bytes are the operator's to delete) but are no longer served, and the
        observers drop it from search. ``also(session, record)`` runs in the same transaction (the audit log).

        Raises:
            Invalid: an empty reason. NotFound, Removed (410): no such version, or removed already.
            Conflict: a draft (discard it instead).
        """
        if not reason.strip():
            raise Invalid(N_("give the reason of the removal; the tombstone shows it"), field="reason")
        with self.db.transaction() as s:
            rec = get_record(s, recid)
            if rec.status == "removed":
                raise tombstone(rec)
            if rec.status != "published":
                raise Conflict(N_("only a published version is removed; a draft is discarded"), record=recid)
            rec.status = "removed"
            rec.removed_at = rec.updated_at = now()  # updated_at: incremental OAI harvests see the deletion
            rec.removal_reason = reason.strip()
            rec.removal_citation = citation
            self.writer.changed(s, rec)
            if also is not None:
                also(s, rec)

    def discard_draft(
        self, recid: int, *, actor: Principal = COMMAND_LINE, also: Callable[[Session], None] | None = None
    ) -> None:
        """Delete a draft (its owner or a curator); a first version's concept goes with it. Published versions
        cannot be deleted (Conflict). ``also(session)`` runs in the same transaction (the deposit's uploads)."""
        with self.db.transaction() as s:
            rec = get_record(s, recid)
            policy.require_edit_draft(actor, rec.owner_id, recid)
            if rec.status != "draft":
                raise Conflict(N_("published versions cannot be deleted"), record=recid)
            if also is not None:
                also(s)
            concept_recid = rec.concept_recid
            s.delete(rec)
            s.flush()
            others = s.scalar(select(Record.recid).where(Record.concept_recid == concept_recid).limit(1))
            if others is None:
                concept = s.get(Concept, concept_recid)
                if concept is not None:
                    s.delete(concept)
