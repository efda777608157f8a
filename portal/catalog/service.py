"""The catalogue service: records as concepts with versions, drafts, publishing, DOIs and file listings.

Rules (Zenodo's): a published version is immutable in its files (metadata fixes allowed, counted as
revisions); file changes need a new version, which starts as a draft copy of the latest; the concept id
and concept DOI always resolve to the latest published version.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, literal, select
from sqlalchemy.orm import Session

from portal.catalog.model import IndexSpec, RecordInput, chunked, file_row
from portal.catalog.schema import validate_record
from portal.db.engine import Database
from portal.db.models import Concept, File, FileIndex, Record
from portal.errors import Conflict, Invalid, NotFound
from portal.pids.base import PIDProvider, normalise_doi

BATCH = 20_000
# Fields kept in columns rather than in the stored metadata JSON.
_COLUMN_FIELDS = (
    "doi",
    "conceptrecid",
    "conceptdoi",
    "files",
    "_file_indices",
    "file_indices",
    "_files",
    "_bucket",
    "_availability_details",
)


@dataclass(frozen=True)
class LoadResult:
    recid: int
    action: str  # "created" | "updated" | "unchanged"
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class FilePage:
    items: list[dict[str, Any]]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


@dataclass(frozen=True)
class RecordView:
    """A record version as the web and CLI layers see it."""

    recid: int
    concept_recid: int
    concept_doi: str | None
    doi: str | None
    status: str
    version_index: int
    is_latest: bool
    latest_recid: int | None
    revision: int
    metadata: dict[str, Any]
    files: list[dict[str, Any]]
    indices: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None


def _now() -> datetime:
    return datetime.now(UTC)


class CatalogService:
    def __init__(self, db: Database, pids: PIDProvider, *, first_recid: int, base_url: str, publisher: str) -> None:
        self.db = db
        self.pids = pids
        self.first_recid = first_recid
        self.base_url = base_url.rstrip("/")
        self.publisher = publisher
        # Called inside the writing transaction after a record version changed (metadata, files or status),
        # so derived tables (OAI sets, search documents) commit or roll back with the change itself.
        self.observers: list[Callable[[Session, Record], None]] = []

    def _changed(self, s: Session, rec: Record) -> None:
        s.flush()
        for observer in self.observers:
            observer(s, rec)

    # ----------------------------------------------------------------- reading
    def resolve(self, recid: int) -> tuple[int, bool]:
        """(recid of the version to show, whether ``recid`` named a concept). Raises NotFound."""
        with self.db.reader() as s:
            if s.get(Record, recid) is not None:
                return recid, False
            if s.get(Concept, recid) is not None:
                latest = self._latest_published(s, recid)
                if latest is None:
                    raise NotFound(f"record {recid} has no published version yet", record=recid)
                return latest.recid, True
        raise NotFound(f"there is no record {recid}", record=recid)

    def get(self, recid: int, *, include_drafts: bool = False) -> RecordView:
        """The version ``recid`` (a concept id gives its latest published version)."""
        target, _ = self.resolve(recid)
        with self.db.reader() as s:
            rec = s.get(Record, target)
            assert rec is not None
            if rec.status != "published" and not include_drafts:
                raise NotFound(f"record {recid} is an unpublished draft", record=recid)
            return self._view(s, rec)

    def find_by_doi(self, doi: str) -> RecordView:
        """The version with this DOI, or the latest version when it is a concept DOI."""
        wanted = normalise_doi(doi)
        with self.db.reader() as s:
            rec = s.scalar(select(Record).where(func.lower(Record.doi) == wanted))
            if rec is None:
                concept = s.scalar(select(Concept).where(func.lower(Concept.doi) == wanted))
                if concept is not None:
                    rec = self._latest_published(s, concept.recid)
            if rec is None or rec.status != "published":
                raise NotFound(f"no record has DOI {doi}", field="doi")
            return self._view(s, rec)

    def lookup(self, field: str, value: str) -> list[RecordView]:
        """Published versions whose ``field`` (doi, title or recid) equals ``value`` exactly."""
        if field == "doi":
            try:
                return [self.find_by_doi(value)]
            except NotFound:
                return []
        if field == "recid":
            if not value.isdigit():
                raise Invalid(f"recid must be a number, got {value!r}", field="q")
            try:
                return [self.get(int(value))]
            except NotFound:
                return []
        with self.db.reader() as s:
            rows = s.scalars(
                select(Record).where(Record.title == value, Record.status == "published").order_by(Record.recid)
            ).all()
            return [self._view(s, r, with_files=False) for r in rows]

    def dois_for(self, recids: list[int]) -> dict[int, str | None]:
        """DOI of each recid: a version's DOI, or a concept's DOI (for a concept id)."""
        if not recids:
            return {}
        with self.db.reader() as s:
            out: dict[int, str | None] = dict(
                s.execute(select(Record.recid, Record.doi).where(Record.recid.in_(recids))).all()
            )
            out.update(s.execute(select(Concept.recid, Concept.doi).where(Concept.recid.in_(recids))).all())
            return out

    def versions(self, recid: int) -> list[RecordView]:
        """All published versions of the concept of ``recid``, newest first."""
        with self.db.reader() as s:
            concept_recid = self._concept_of(s, recid)
            rows = s.scalars(
                select(Record)
                .where(Record.concept_recid == concept_recid, Record.status == "published")
                .order_by(Record.version_index.desc())
            ).all()
            return [self._view(s, r, with_files=False, latest=rows[0]) for r in rows]

    def list_recids(self, *, after: int = 0, limit: int = 100) -> list[int]:
        """Published recids in ascending order after ``after`` (keyset pagination)."""
        with self.db.reader() as s:
            return list(
                s.scalars(
                    select(Record.recid)
                    .where(Record.status == "published", Record.recid > after)
                    .order_by(Record.recid)
                    .limit(limit)
                )
            )

    def count_published(self) -> int:
        with self.db.reader() as s:
            return s.scalar(select(func.count()).select_from(Record).where(Record.status == "published")) or 0

    def list_files(self, recid: int, *, index_key: str | None = None, page: int = 1, size: int = 20) -> FilePage:
        """One page of a record's direct files, or of one file index's entries.

        Positions are dense, so every page (first or last) is one range scan on an index.
        """
        if page < 1 or size < 1:
            raise Invalid("page and size must be positive integers", field="page" if page < 1 else "size")
        target, _ = self.resolve(recid)
        with self.db.reader() as s:
            index_id, total = self._file_scope(s, target, index_key)
            start = (page - 1) * size
            query = (
                select(File)
                .where(File.recid == target, File.position >= start, File.position < start + size)
                .order_by(File.position)
            )
            query = query.where(File.index_id.is_(None)) if index_id is None else query.where(File.index_id == index_id)
            items = [_file_dict(f) for f in s.scalars(query)]
            return FilePage(items=items, total=total, page=page, size=size)

    def get_file(self, recid: int, key: str) -> dict[str, Any]:
        """One file of a record version by key (direct files first, then file-index entries)."""
        target, _ = self.resolve(recid)
        with self.db.reader() as s:
            row = s.scalar(
                select(File)
                .where(File.recid == target, File.key == key)
                .order_by(File.index_id.is_not(None), File.position)
                .limit(1)
            )
            if row is None:
                raise NotFound(f"record {recid} has no file {key!r}", record=recid, field="key")
            return _file_dict(row)

    def find_files(
        self, recid: int, *, index_key: str | None = None, pattern: str | None = None, after: int = -1, size: int = 100
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Files after cursor position ``after`` whose key matches the glob ``pattern``.

        Returns (items, next cursor or None). Cost is proportional to the rows scanned to fill one page,
        never to the position, so it stays fast on a million-file index.
        """
        target, _ = self.resolve(recid)
        with self.db.reader() as s:
            index_id = None if index_key is None else self._file_scope(s, target, index_key)[0]  # no count here
            query = select(File).where(File.recid == target, File.position > after)
            query = query.where(File.index_id.is_(None)) if index_id is None else query.where(File.index_id == index_id)
            if pattern:
                query = query.where(File.key.like(glob_to_like(pattern), escape="\\"))
            rows = list(s.scalars(query.order_by(File.position).limit(size + 1)))
        more = len(rows) > size
        rows = rows[:size]
        return [{**_file_dict(f), "position": f.position} for f in rows], (rows[-1].position if more else None)

    def iter_index_entries(self, recid: int, index_key: str) -> Iterator[dict[str, Any]]:
        """Every entry of one file index in order, fetched in batches (bounded memory)."""
        target, _ = self.resolve(recid)
        with self.db.reader() as s:
            index_id, _total = self._file_scope(s, target, index_key)
        position = -1
        while True:
            with self.db.reader() as s:
                batch = list(
                    s.scalars(
                        select(File)
                        .where(File.recid == target, File.index_id == index_id, File.position > position)
                        .order_by(File.position)
                        .limit(BATCH)
                    )
                )
            if not batch:
                return
            for f in batch:
                yield _file_dict(f)
            position = batch[-1].position

    # ----------------------------------------------------------------- loading
    def load(self, inputs: Sequence[RecordInput]) -> list[LoadResult]:
        """Store ``inputs`` in one transaction: all of them, or none when any is refused.

        Records whose content is unchanged are left alone, so loading the same file twice is a no-op.
        """
        results: list[LoadResult] = []
        with self.db.transaction() as s:
            for item in inputs:
                results.append(self._load_one(s, item))
        return results

    def _load_one(self, s: Session, item: RecordInput) -> LoadResult:
        md = item.metadata
        recid = item.recid
        content_hash = item.content_hash()
        files_hash = item.files_hash()
        existing = s.get(Record, recid)
        if existing is not None:
            if existing.content_hash == content_hash:
                return LoadResult(recid, "unchanged", tuple(item.warnings))
            if existing.status == "published" and existing.files_hash != files_hash:
                raise Conflict(
                    "its files differ from the published version; files of a published version "
                    "cannot change, publish a new version instead",
                    source=item.source,
                    record=recid,
                    field="files",
                )
        if s.get(Concept, recid) is not None:
            raise Conflict(
                "this recid is already the concept id of another record",
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
                    f"DOI {md['doi']} already belongs to record {clash}", source=item.source, record=recid, field="doi"
                )
        stored = _stored_metadata(md, self.publisher)
        if existing is not None:  # a metadata fix of a published version, or a draft being replaced
            existing.data = stored
            existing.title = stored["title"]
            existing.type_primary = stored["type"]["primary"]
            existing.content_hash = content_hash
            existing.revision += 1
            existing.updated_at = _now()
            existing.source = item.source
            if doi:
                existing.doi = doi
            if existing.files_hash != files_hash:  # only drafts reach here
                self._replace_files(s, recid, item)
                existing.files_hash = files_hash
            self._changed(s, existing)
            return LoadResult(recid, "updated", tuple(item.warnings))

        concept_recid = int(md["conceptrecid"]) if md.get("conceptrecid") else None
        if concept_recid is not None:
            if s.get(Record, concept_recid) is not None:
                raise Conflict(
                    f"conceptrecid {concept_recid} is the recid of a record version",
                    source=item.source,
                    record=recid,
                    field="conceptrecid",
                )
            concept = s.get(Concept, concept_recid)
            if concept is None:
                concept = Concept(recid=concept_recid, created_at=_now())
                s.add(concept)
                s.flush()
        else:
            concept = Concept(recid=self._next_recid(s), created_at=_now())
            s.add(concept)
            s.flush()
        if md.get("conceptdoi") and not concept.doi:
            concept.doi = normalise_doi(md["conceptdoi"])
        version_index = (
            s.scalar(select(func.max(Record.version_index)).where(Record.concept_recid == concept.recid)) or 0
        ) + 1
        now = _now()
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
            created_at=now,
            updated_at=now,
            published_at=now,
        )
        s.add(rec)
        s.flush()
        self._replace_files(s, recid, item)
        self._publish_pids(s, rec, concept)
        self._changed(s, rec)
        return LoadResult(recid, "created", tuple(item.warnings))

    def _replace_files(self, s: Session, recid: int, item: RecordInput) -> None:
        s.execute(delete(File).where(File.recid == recid))
        s.execute(delete(FileIndex).where(FileIndex.recid == recid))
        rows = [{**file_row(f), "recid": recid, "index_id": None, "position": i} for i, f in enumerate(item.files)]
        for batch in chunked(rows, BATCH):
            s.execute(insert(File), batch)
        for position, spec in enumerate(item.indices):
            self._store_index(s, recid, position, spec)

    def _store_index(self, s: Session, recid: int, position: int, spec: IndexSpec) -> None:
        index = FileIndex(
            recid=recid,
            position=position,
            key=spec.key,
            description=spec.description,
            uri=spec.uri,
            number_files=0,
            size=0,
        )
        s.add(index)
        s.flush()
        count = total = 0
        entries = spec.entries or ()

        def rows() -> Iterator[dict[str, Any]]:
            nonlocal count, total
            for entry in entries:
                row = file_row(entry)
                row.update(recid=recid, index_id=index.id, position=count)
                count += 1
                total += row["size"] or 0
                yield row

        for batch in chunked(rows(), BATCH):
            s.execute(insert(File), batch)
        index.number_files = count
        index.size = total

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
        """
        with self.db.transaction() as s:
            rec = self._get_record(s, recid)
            if rec.status == "published":
                has_files = s.scalar(select(func.count()).select_from(File).where(File.recid == recid)) or 0
                if has_files:
                    raise Conflict(
                        "this published version already has files; start a new version to change them",
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
            self._replace_files(s, recid, item)
            rec.data = data
            rec.files_hash = item.files_hash()
            # content_hash stays the hash of the loaded source, so reloading that file is still a no-op.
            rec.revision += 1
            rec.updated_at = _now()
            self._changed(s, rec)
            return self._view(s, rec)

    # --------------------------------------------------------------- versioning
    def new_version(self, recid: int) -> RecordView:
        """Start a new version of the concept of ``recid``: a draft copy of its latest published version."""
        with self.db.transaction() as s:
            concept_recid = self._concept_of(s, recid)
            draft = s.scalar(select(Record).where(Record.concept_recid == concept_recid, Record.status == "draft"))
            if draft is not None:
                raise Conflict(
                    f"record {draft.recid} is already a draft new version; publish or discard it first", record=recid
                )
            latest = self._latest_published(s, concept_recid)
            if latest is None:
                raise NotFound("no published version to start from", record=recid)
            new_recid = self._next_recid(s)
            now = _now()
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
                created_at=now,
                updated_at=now,
            )
            s.add(draft)
            s.flush()
            self._copy_files(s, latest.recid, new_recid)
            self._changed(s, draft)
            return self._view(s, draft)

    def _copy_files(self, s: Session, src: int, dst: int) -> None:
        f = File.__table__.c
        cols = [
            "key",
            "filename",
            "uri",
            "size",
            "checksum",
            "type",
            "description",
            "availability",
            "position",
            "format",
            "entries",
            "inspection",
        ]
        s.execute(
            insert(File).from_select(
                ["recid", "index_id", *cols],
                select(literal(dst), f.index_id, *[f[c] for c in cols]).where(f.recid == src, f.index_id.is_(None)),
            )
        )
        for index in s.scalars(select(FileIndex).where(FileIndex.recid == src).order_by(FileIndex.position)):
            copy_ = FileIndex(
                recid=dst,
                position=index.position,
                key=index.key,
                description=index.description,
                uri=index.uri,
                number_files=index.number_files,
                size=index.size,
            )
            s.add(copy_)
            s.flush()
            s.execute(
                insert(File).from_select(
                    ["recid", "index_id", *cols],
                    select(literal(dst), literal(copy_.id), *[f[c] for c in cols]).where(f.index_id == index.id),
                )
            )

    def update_draft(
        self,
        recid: int,
        metadata: dict[str, Any],
        *,
        files: list[dict[str, Any]] | None = None,
        indices: list[IndexSpec] | None = None,
    ) -> RecordView:
        """Replace a draft's metadata (and, when given, its files). Published versions are refused."""
        with self.db.transaction() as s:
            rec = self._get_record(s, recid)
            if rec.status != "draft":
                raise Conflict("only a draft can change its files; start a new version", record=recid)
            md = {**metadata, "recid": str(recid)}
            validate_record(md)
            rec.data = _stored_metadata(md, self.publisher)
            rec.title = rec.data["title"]
            rec.type_primary = rec.data["type"]["primary"]
            rec.updated_at = _now()
            rec.revision += 1
            if files is not None or indices is not None:
                item = RecordInput(metadata=md, files=files or [], indices=indices or [])
                self._replace_files(s, recid, item)
                rec.files_hash = item.files_hash()
            self._changed(s, rec)
            return self._view(s, rec)

    def edit_metadata(self, recid: int, metadata: dict[str, Any]) -> RecordView:
        """A metadata fix of a published version (a new revision, no new DOI). File fields are refused."""
        forbidden = [k for k in ("files", "file_indices", "_file_indices") if k in metadata]
        if forbidden:
            raise Conflict(
                "files of a published version cannot change; start a new version", record=recid, field=forbidden[0]
            )
        with self.db.transaction() as s:
            rec = self._get_record(s, recid)
            if rec.status != "published":
                raise Conflict("this is a draft; use update_draft", record=recid)
            md = {**metadata, "recid": str(recid)}
            if rec.doi:
                md.pop("doi", None)
            validate_record(md)
            rec.data = _stored_metadata(md, self.publisher)
            rec.title = rec.data["title"]
            rec.type_primary = rec.data["type"]["primary"]
            rec.revision += 1
            rec.updated_at = _now()
            self._changed(s, rec)
            return self._view(s, rec)

    def publish(self, recid: int) -> RecordView:
        """Publish a draft: it gets its DOI (and the concept its DOI, the first time) and becomes the latest."""
        with self.db.transaction() as s:
            rec = self._get_record(s, recid)
            if rec.status == "published":
                raise Conflict("this version is already published", record=recid)
            validate_record({**rec.data, "recid": str(recid)})
            concept = s.get(Concept, rec.concept_recid)
            assert concept is not None
            rec.status = "published"
            rec.published_at = rec.updated_at = _now()
            rec.content_hash = hashlib.sha256(
                (json.dumps(rec.data, sort_keys=True) + rec.files_hash).encode()
            ).hexdigest()
            self._publish_pids(s, rec, concept)
            self._changed(s, rec)
            return self._view(s, rec)

    def discard_draft(self, recid: int) -> None:
        with self.db.transaction() as s:
            rec = self._get_record(s, recid)
            if rec.status != "draft":
                raise Conflict("published versions cannot be deleted", record=recid)
            s.delete(rec)

    def _publish_pids(self, s: Session, rec: Record, concept: Concept) -> None:
        if not rec.doi:
            rec.doi = self.pids.mint(rec.recid)
        if not concept.doi:
            concept.doi = self.pids.mint(concept.recid)
        s.flush()
        self.pids.register(rec.doi, f"{self.base_url}/record/{rec.recid}")
        self.pids.register(concept.doi, f"{self.base_url}/record/{concept.recid}")

    # ------------------------------------------------------------------ helpers
    def _next_recid(self, s: Session) -> int:
        top = max(s.scalar(select(func.max(Record.recid))) or 0, s.scalar(select(func.max(Concept.recid))) or 0)
        return max(top + 1, self.first_recid)

    def _get_record(self, s: Session, recid: int) -> Record:
        rec = s.get(Record, recid)
        if rec is None:
            raise NotFound(f"there is no record version {recid}", record=recid)
        return rec

    def _concept_of(self, s: Session, recid: int) -> int:
        rec = s.get(Record, recid)
        if rec is not None:
            return rec.concept_recid
        if s.get(Concept, recid) is not None:
            return recid
        raise NotFound(f"there is no record {recid}", record=recid)

    @staticmethod
    def _latest_published(s: Session, concept_recid: int) -> Record | None:
        return s.scalar(
            select(Record)
            .where(Record.concept_recid == concept_recid, Record.status == "published")
            .order_by(Record.version_index.desc())
            .limit(1)
        )

    def _file_scope(self, s: Session, recid: int, index_key: str | None) -> tuple[int | None, int]:
        if index_key is None:
            total = (
                s.scalar(select(func.count()).select_from(File).where(File.recid == recid, File.index_id.is_(None)))
                or 0
            )
            return None, total
        index = s.scalar(select(FileIndex).where(FileIndex.recid == recid, FileIndex.key == index_key))
        if index is None:
            raise NotFound(f"record {recid} has no file index {index_key!r}", record=recid, field="index")
        return index.id, index.number_files

    def _view(self, s: Session, rec: Record, *, with_files: bool = True, latest: Record | None = None) -> RecordView:
        """``latest``: the concept's latest published version, when the caller has it already."""
        concept = s.get(Concept, rec.concept_recid)
        latest = latest or self._latest_published(s, rec.concept_recid)
        files: list[dict[str, Any]] = []
        indices: list[dict[str, Any]] = []
        if with_files:
            files = [
                _file_dict(f)
                for f in s.scalars(
                    select(File)
                    .where(File.recid == rec.recid, File.index_id.is_(None))
                    .order_by(File.position)
                    .limit(1000)
                )
            ]
            indices = [
                {
                    "key": i.key,
                    "description": i.description,
                    "uri": i.uri,
                    "number_files": i.number_files,
                    "size": i.size,
                }
                for i in s.scalars(select(FileIndex).where(FileIndex.recid == rec.recid).order_by(FileIndex.position))
            ]
        return RecordView(
            recid=rec.recid,
            concept_recid=rec.concept_recid,
            concept_doi=concept.doi if concept else None,
            doi=rec.doi,
            status=rec.status,
            version_index=rec.version_index,
            is_latest=latest is not None and latest.recid == rec.recid,
            latest_recid=latest.recid if latest else None,
            revision=rec.revision,
            metadata=copy.deepcopy(rec.data),
            files=files,
            indices=indices,
            created_at=rec.created_at,
            updated_at=rec.updated_at,
            published_at=rec.published_at,
        )


def glob_to_like(pattern: str) -> str:
    """A shell glob (`*`, `?`) as an SQL LIKE pattern with `\\` as the escape character."""
    out = []
    for ch in pattern:
        if ch in "%_\\":
            out.append("\\" + ch)
        elif ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        else:
            out.append(ch)
    return "".join(out)


def _stored_metadata(md: dict[str, Any], publisher: str) -> dict[str, Any]:
    stored = {k: copy.deepcopy(v) for k, v in md.items() if k not in _COLUMN_FIELDS}
    stored["recid"] = str(md["recid"])
    stored.setdefault("publisher", publisher)
    return stored


def _file_dict(f: File) -> dict[str, Any]:
    return {
        k: v
        for k, v in (
            ("key", f.key),
            ("filename", f.filename),
            ("uri", f.uri),
            ("size", f.size),
            ("checksum", f.checksum),
            ("type", f.type),
            ("description", f.description),
            ("availability", f.availability),
            ("format", f.format),
            ("entries", f.entries),
        )
        if v is not None
    }
