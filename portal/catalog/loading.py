"""Putting records into the catalogue: loading (create, update or leave alone), creating a record whose recid
the catalogue allocates, and giving a record the files ingest found."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.catalog.filelists import replace_files
from portal.catalog.model import IndexSpec, RecordInput
from portal.catalog.results import LoadResult, RecordView
from portal.catalog.rows import get_record, now, record_view, stored_metadata
from portal.catalog.schema import validate_record
from portal.catalog.writing import Writer
from portal.db.models import Concept, File, Record
from portal.errors import Conflict, Invalid
from portal.i18n import N_
from portal.pids.base import normalise_doi


class RecordLoader:
    """Stores records as published versions, in one transaction per call."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.db = writer.db

    def load(self, inputs: Sequence[RecordInput]) -> list[LoadResult]:
        """Store ``inputs`` in one transaction: all of them, or none when any is refused.

        Records whose content is unchanged are left alone, so loading the same file twice is a no-op.

        Raises:
            Conflict: a published version's files would change, a recid or DOI belongs to another record.
        """
        results: list[LoadResult] = []
        with self.db.transaction() as s:
            for item in inputs:
                results.append(self._load_one(s, item))
        return results

    def create(
        self,
        metadata: dict[str, Any],
        *,
        source: str,
        files: list[dict[str, Any]] | None = None,
        owner_id: int | None = None,
    ) -> RecordView:
        """Store a new record (a new concept and its first version, published) with recids the catalogue
        allocates inside its own transaction, so concurrent creations never get the same recid.

        ``metadata`` is record JSON without `recid` and `conceptrecid`; ``source`` names where it comes
        from in errors and in the record's history (e.g. "analysis job 12"); ``files`` are its file rows and
        ``owner_id`` the user who owns it (who may start its next versions).

        Raises:
            Invalid: the metadata names a recid, or fails the record schema.
            Conflict: its DOI belongs to another record.
        """
        for given in ("recid", "conceptrecid"):
            if metadata.get(given) is not None:
                raise Invalid(
                    N_("a new record gets its {given} from the catalogue; leave it out"),
                    given=given,
                    source=source,
                    field=given,
                )
        with self.db.transaction() as s:
            concept_recid = self.writer.next_recid(s)  # concept_recid + 1 is this transaction's too
            md = {**metadata, "recid": concept_recid + 1, "conceptrecid": concept_recid}
            validate_record(md, source=source)
            self._load_one(s, RecordInput(metadata=md, files=files or [], source=source))
            rec = get_record(s, concept_recid + 1)
            if owner_id is not None:
                rec.owner_id = owner_id
            return record_view(s, rec)

    def _load_one(self, s: Session, item: RecordInput) -> LoadResult:
        md = item.metadata
        recid = item.recid
        content_hash = item.content_hash()
        files_hash = item.files_hash()
        existing = s.get(Record, recid)
        if existing is not None:
            if existing.status == "removed":
                raise Conflict(
                    N_("this record was removed (a tombstone); a removed record is not loaded again"),
                    source=item.source,
                    record=recid,
                )
            if existing.content_hash == content_hash:
                return LoadResult(recid, "unchanged", tuple(item.warnings))
            if existing.status == "published" and existing.files_hash != files_hash:
                raise Conflict(
                    N_(
                        "its files differ from the published version; files of a published "
                        "version cannot change, publish a new version instead"
                    ),
                    source=item.source,
                    record=recid,
                    field="files",
                )
        if s.get(Concept, recid) is not None:
            raise Conflict(
                N_("this recid is already the concept id of another record"),
                source=item.source,
                record=recid,
                field="recid",
            )
        doi = normalise_doi(md["doi"]) if md.get("doi") else None
        if doi:
            clash = s.scalar(select(Record.recid).where(func.lower(Record.doi) == doi, Record.recid != recid))
            if clash is None:
                clash = s.scalar(select(Concept.recid).where(func.lower(Concept.doi) == doi))
            if clash is not None:
                raise Conflict(
                    N_("DOI {doi} already belongs to record {clash}"),
                    doi=md["doi"],
                    clash=clash,
                    source=item.source,
                    record=recid,
                    field="doi",
                )
        stored = stored_metadata(md, self.writer.publisher)
        if existing is not None:  # a metadata fix of a published version, or a draft being replaced
            existing.data = stored
            existing.title = stored["title"]
            existing.type_primary = stored["type"]["primary"]
            existing.content_hash = content_hash
            existing.revision += 1
            existing.updated_at = now()
            existing.source = item.source
            if doi:
                existing.doi = doi
            if existing.files_hash != files_hash:  # only drafts reach here
                replace_files(s, recid, item)
                existing.files_hash = files_hash
            self.writer.changed(s, existing)
            return LoadResult(recid, "updated", tuple(item.warnings))

        concept_recid = int(md["conceptrecid"]) if md.get("conceptrecid") else None
        if concept_recid is not None:
            if s.get(Record, concept_recid) is not None:
                raise Conflict(
                    N_("conceptrecid {concept_recid} is the recid of a record version"),
                    concept_recid=concept_recid,
                    source=item.source,
                    record=recid,
                    field="conceptrecid",
                )
            concept = s.get(Concept, concept_recid)
            if concept is None:
                concept = Concept(recid=concept_recid, created_at=now())
                s.add(concept)
                s.flush()
        else:
            # above=recid: this version's own recid is not stored yet, and a concept never shares a version's id
            concept = Concept(recid=self.writer.next_recid(s, above=recid), created_at=now())
            s.add(concept)
            s.flush()
        if md.get("conceptdoi") and not concept.doi:
            concept.doi = normalise_doi(md["conceptdoi"])
        version_index = (
            s.scalar(select(func.max(Record.version_index)).where(Record.concept_recid == concept.recid)) or 0
        ) + 1
        moment = now()
        rec = Record(
            recid=recid,
            concept_recid=concept.recid,
            version_index=version_index,
            status="published",
            doi=doi,
            title=stored["title"],
            type_primary=stored["type"]["primary"],
            data=stored,
            content_hash=content_hash,
            files_hash=files_hash,
            revision=1,
            source=item.source,
            created_at=moment,
            updated_at=moment,
            published_at=moment,
        )
        s.add(rec)
        s.flush()
        replace_files(s, recid, item)
        self.writer.publish_pids(s, rec, concept)
        self.writer.changed(s, rec)
        return LoadResult(recid, "created", tuple(item.warnings))

    def ingest_files(
        self,
        recid: int,
        files: list[dict[str, Any]],
        distribution: dict[str, Any],
        indices: list[IndexSpec] | None = None,
    ) -> RecordView:
        """Give a record the files found by ingest and update its `distribution`, in one transaction.

        Allowed for a draft, and for a published version that has no files yet (a curated record being
        filled for the first time); a published version with files is immutable: start a new version.

        Raises:
            NotFound: no version ``recid``.
            Conflict: a published version that has files already.
            Invalid: the updated metadata fails the record schema.
        """
        with self.db.transaction() as s:
            rec = get_record(s, recid)
            if rec.status == "removed":
                raise Conflict(N_("this record was removed; it takes no files"), record=recid)
            if rec.status == "published":
                has_files = s.scalar(select(func.count()).select_from(File).where(File.recid == recid)) or 0
                if has_files:
                    raise Conflict(
                        N_("this published version already has files; start a new version to change them"),
                        record=recid,
                        field="files",
                    )
            data = copy.deepcopy(rec.data)
            data["distribution"] = {
                **data.get("distribution", {}),
                **distribution,
                "formats": sorted(
                    set(data.get("distribution", {}).get("formats", [])) | set(distribution.get("formats", []))
                ),
            }
            validate_record({**data, "recid": str(recid)})
            item = RecordInput(metadata=data, files=files, indices=indices or [])
            replace_files(s, recid, item)
            rec.data = data
            rec.files_hash = item.files_hash()
            # content_hash stays the hash of the loaded source, so reloading that file is still a no-op.
            rec.revision += 1
            rec.updated_at = now()
            self.writer.changed(s, rec)
            return record_view(s, rec)
