"""The catalogue service: records as concepts with versions, drafts, publishing, DOIs and file listings.

Rules (Zenodo's): a published version is immutable in its files (metadata fixes allowed, counted as
revisions); file changes need a new version, which starts as a draft copy of the latest; the concept id
and concept DOI always resolve to the latest published version.

`CatalogService` is the one object the rest of the portal holds; it composes the parts, each in its own
module: reading (:mod:`portal.catalog.reading`), file listings (:mod:`portal.catalog.filelists`), loading
(:mod:`portal.catalog.loading`) and versioning (:mod:`portal.catalog.versioning`). Its results are in
:mod:`portal.catalog.results`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy.orm import Session

from portal.catalog.filelists import FileLists
from portal.catalog.loading import RecordLoader
from portal.catalog.model import IndexSpec, RecordInput
from portal.catalog.reading import RecordReader
from portal.catalog.results import FilePage, FileSlice, LoadResult, RecordView, Resolved
from portal.catalog.rows import glob_to_like
from portal.catalog.versioning import RecordVersions
from portal.catalog.writing import Writer
from portal.db.engine import Database
from portal.db.models import Record
from portal.identity.audit import AuditLog
from portal.identity.principal import COMMAND_LINE, Principal
from portal.pids.base import PIDProvider

__all__ = ["CatalogService", "FilePage", "FileSlice", "LoadResult", "RecordView", "Resolved", "glob_to_like"]


class CatalogService:
    """Records, versions and their files. Every method reads or writes in one transaction of its own."""

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
        self.pids = pids
        self.records = RecordReader(db)
        self.filelists = FileLists(db, self.records)
        self._writer = Writer(db, pids, first_recid=first_recid, base_url=base_url, publisher=publisher, audit=audit)
        self.loader = RecordLoader(self._writer)
        self.versioning = RecordVersions(self._writer)

    @property
    def observers(self) -> list[Callable[[Session, Record], None]]:
        """Called as ``observer(session, record)`` inside the writing transaction after a version changed
        (metadata, files or status), so derived tables commit or roll back with the change itself."""
        return self._writer.observers

    def touch(self, concept_recid: int, change: Callable[[Session], None]) -> None:
        """Run ``change(session)`` and mark the concept's published versions changed in the same transaction (see
        :meth:`Writer.touch`)."""
        self._writer.touch(concept_recid, change)

    # ------------------------------------------------------------ reading (RecordReader)
    def resolve(self, recid: int) -> Resolved:
        return self.records.resolve(recid)

    def get(self, recid: int, *, include_drafts: bool = False) -> RecordView:
        return self.records.get(recid, include_drafts=include_drafts)

    def get_hits(self, recids: list[int]) -> list[RecordView]:
        return self.records.get_hits(recids)

    def find_by_doi(self, doi: str) -> RecordView:
        return self.records.find_by_doi(doi)

    def lookup(self, field: str, value: str) -> list[RecordView]:
        return self.records.lookup(field, value)

    def dois_for(self, recids: list[int]) -> dict[int, str | None]:
        return self.records.dois_for(recids)

    def versions(self, recid: int) -> list[RecordView]:
        return self.records.versions(recid)

    def list_recids(self, *, after: int = 0, limit: int = 100) -> list[int]:
        return self.records.list_recids(after=after, limit=limit)

    def chunk_starts(self, size: int) -> list[int]:
        return self.records.chunk_starts(size)

    def count_published(self) -> int:
        return self.records.count_published()

    # ------------------------------------------------------------ file listings (FileLists)
    def list_files(self, recid: int, *, index_key: str | None = None, page: int = 1, size: int = 20) -> FilePage:
        return self.filelists.list_files(recid, index_key=index_key, page=page, size=size)

    def inspection(self, recid: int, key: str) -> dict[str, Any] | None:
        return self.filelists.inspection(recid, key)

    def get_file(self, recid: int, key: str) -> dict[str, Any]:
        return self.filelists.get_file(recid, key)

    def find_files(
        self, recid: int, *, index_key: str | None = None, pattern: str | None = None, after: int = -1, size: int = 100
    ) -> FileSlice:
        return self.filelists.find_files(recid, index_key=index_key, pattern=pattern, after=after, size=size)

    def iter_index_entries(self, recid: int, index_key: str) -> Iterator[dict[str, Any]]:
        return self.filelists.iter_index_entries(recid, index_key)

    # ------------------------------------------------------------ loading (RecordLoader)
    def load(self, inputs: Sequence[RecordInput]) -> list[LoadResult]:
        return self.loader.load(inputs)

    def create(
        self,
        metadata: dict[str, Any],
        *,
        source: str,
        files: list[dict[str, Any]] | None = None,
        owner_id: int | None = None,
    ) -> RecordView:
        return self.loader.create(metadata, source=source, files=files, owner_id=owner_id)

    def ingest_files(
        self,
        recid: int,
        files: list[dict[str, Any]],
        distribution: dict[str, Any],
        indices: list[IndexSpec] | None = None,
    ) -> RecordView:
        return self.loader.ingest_files(recid, files, distribution, indices)

    # ------------------------------------------------------------ versioning (RecordVersions)
    def new_version(self, recid: int, *, actor: Principal = COMMAND_LINE, owner_id: int | None = None) -> RecordView:
        return self.versioning.new_version(recid, actor=actor, owner_id=owner_id)

    def update_draft(
        self,
        recid: int,
        metadata: dict[str, Any],
        *,
        files: list[dict[str, Any]] | None = None,
        indices: list[IndexSpec] | None = None,
        actor: Principal = COMMAND_LINE,
    ) -> RecordView:
        return self.versioning.update_draft(recid, metadata, files=files, indices=indices, actor=actor)

    def edit_metadata(self, recid: int, metadata: dict[str, Any]) -> RecordView:
        return self.versioning.edit_metadata(recid, metadata)

    def publish(self, recid: int, *, actor: Principal = COMMAND_LINE) -> RecordView:
        return self.versioning.publish(recid, actor=actor)

    def create_draft(self, metadata: dict[str, Any], *, actor: Principal, source: str = "deposit") -> RecordView:
        return self.versioning.create_draft(metadata, actor=actor, source=source)

    def owned_by(self, user_id: int, *, page: int = 1, size: int = 20) -> tuple[list[RecordView], int]:
        return self.records.owned_by(user_id, page=page, size=size)

    def remove(
        self, recid: int, *, reason: str, citation: str, also: Callable[[Session, Record], None] | None = None
    ) -> None:
        self.versioning.remove(recid, reason=reason, citation=citation, also=also)

    def discard_draft(self, recid: int, *, actor: Principal = COMMAND_LINE) -> None:
        self.versioning.discard_draft(recid, actor=actor)


# The façade's methods carry the docstrings of the parts that do the work, so help() shows the contracts.
_PARTS: dict[type, tuple[str, ...]] = {
    RecordReader: (
        "resolve",
        "get",
        "find_by_doi",
        "lookup",
        "dois_for",
        "versions",
        "list_recids",
        "chunk_starts",
        "count_published",
        "owned_by",
    ),
    FileLists: ("list_files", "get_file", "find_files", "iter_index_entries"),
    RecordLoader: ("load", "create", "ingest_files"),
    RecordVersions: ("new_version", "update_draft", "edit_metadata", "publish", "create_draft", "discard_draft"),
}
for _part, _names in _PARTS.items():
    for _name in _names:
        getattr(CatalogService, _name).__doc__ = getattr(_part, _name).__doc__
