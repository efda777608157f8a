"""A record version's files: page-numbered and cursor listings, file indices read in batches, and the
writing of file rows (replacing a version's files, copying them to a new version).

Positions are dense per scope (direct files, or one file index), so a page is one range scan on an index
whatever its number, and a cursor is a position.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import delete, insert, literal, select
from sqlalchemy.orm import Session

from portal.catalog.model import IndexSpec, RecordInput, chunked, file_row
from portal.catalog.reading import RecordReader
from portal.catalog.results import FilePage, FileSlice
from portal.catalog.rows import BATCH, file_dict, file_scope, glob_to_like
from portal.db.bulk import insert_rows
from portal.db.engine import Database
from portal.db.models import File, FileIndex
from portal.errors import Invalid, NotFound
from portal.i18n import N_

# File columns copied as they are when a new version starts from the latest one.
_COPIED = (
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
)


class FileLists:
    """Listings of a version's direct files or of one of its file indices (a concept id lists its latest)."""

    def __init__(self, db: Database, records: RecordReader) -> None:
        self.db = db
        self.records = records

    def list_files(self, recid: int, *, index_key: str | None = None, page: int = 1, size: int = 20) -> FilePage:
        """One page of a record's direct files, or of one file index's entries.

        Raises:
            Invalid: page or size below 1.
            NotFound: no such record, or no such file index.
        """
        if page < 1 or size < 1:
            raise Invalid(N_("page and size must be positive integers"), field="page" if page < 1 else "size")
        target, _ = self.records.resolve(recid)
        with self.db.reader() as s:
            index_id, total = file_scope(s, target, index_key)
            start = (page - 1) * size
            query = (
                select(File)
                .where(File.recid == target, File.position >= start, File.position < start + size)
                .order_by(File.position)
            )
            query = query.where(File.index_id.is_(None)) if index_id is None else query.where(File.index_id == index_id)
            items = [file_dict(f) for f in s.scalars(query)]
            return FilePage(items=items, total=total, page=page, size=size)

    def inspection(self, recid: int, key: str) -> dict[str, Any] | None:
        """What ingest found inside file ``key`` of version ``recid`` (its format's summary: trees and branches,
        columns, datasets), None when it was never inspected or there is no such file. Not part of the record
        JSON: the Analyse panel reads it to match analyses to a dataset's columns."""
        target, _ = self.records.resolve(recid)
        with self.db.reader() as s:
            found = s.scalar(
                select(File.inspection)
                .where(File.recid == target, File.key == key)
                .order_by(File.index_id.is_not(None), File.position)
                .limit(1)
            )
            return found if isinstance(found, dict) else None

    def get_file(self, recid: int, key: str) -> dict[str, Any]:
        """One file row of a record version by key (direct files first, then file-index entries).
        Raises NotFound."""
        target, _ = self.records.resolve(recid)
        with self.db.reader() as s:
            row = s.scalar(
                select(File)
                .where(File.recid == target, File.key == key)
                .order_by(File.index_id.is_not(None), File.position)
                .limit(1)
            )
            if row is None:
                raise NotFound(
                    N_("record {recid} has no file {key!r}"), recid=recid, key=key, record=recid, field="key"
                )
            return file_dict(row)

    def find_files(
        self, recid: int, *, index_key: str | None = None, pattern: str | None = None, after: int = -1, size: int = 100
    ) -> FileSlice:
        """Files after cursor position ``after`` whose key matches the glob ``pattern``.

        Cost is proportional to the rows scanned to fill one slice, never to the position, so it stays fast
        on a million-file index. Raises NotFound for an unknown record or file index.
        """
        target, _ = self.records.resolve(recid)
        with self.db.reader() as s:
            index_id = None if index_key is None else file_scope(s, target, index_key)[0]  # no count here
            query = select(File).where(File.recid == target, File.position > after)
            query = query.where(File.index_id.is_(None)) if index_id is None else query.where(File.index_id == index_id)
            if pattern:
                query = query.where(File.key.like(glob_to_like(pattern), escape="\\"))
            rows = list(s.scalars(query.order_by(File.position).limit(size + 1)))
        more = len(rows) > size
        rows = rows[:size]
        return FileSlice([{**file_dict(f), "position": f.position} for f in rows], rows[-1].position if more else None)

    def iter_index_entries(self, recid: int, index_key: str) -> Iterator[dict[str, Any]]:
        """Every entry of one file index in order, fetched in batches (bounded memory). Raises NotFound."""
        target, _ = self.records.resolve(recid)
        with self.db.reader() as s:
            index_id, _total = file_scope(s, target, index_key)
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
                yield file_dict(f)
            position = batch[-1].position


def replace_files(s: Session, recid: int, item: RecordInput) -> None:
    """Replace the files and file indices of version ``recid`` with those of ``item``, in batches."""
    s.execute(delete(File).where(File.recid == recid))
    s.execute(delete(FileIndex).where(FileIndex.recid == recid))
    rows = [{**file_row(f), "recid": recid, "index_id": None, "position": i} for i, f in enumerate(item.files)]
    for batch in chunked(rows, BATCH):
        insert_rows(s, cast(sa.Table, File.__table__), batch)
    for position, spec in enumerate(item.indices):
        _store_index(s, recid, position, spec)


def change_direct_files(s: Session, recid: int, remove: list[str], add: list[dict[str, Any]]) -> str:
    """Drop the direct files keyed ``remove`` from version ``recid`` and append ``add`` (its file indices stay);
    positions stay dense. Returns the new files hash (over every direct file, in order)."""
    if remove:
        for keys in (remove[i : i + 500] for i in range(0, len(remove), 500)):
            s.execute(delete(File).where(File.recid == recid, File.index_id.is_(None), File.key.in_(keys)))
    kept = list(s.scalars(select(File).where(File.recid == recid, File.index_id.is_(None)).order_by(File.position)))
    for position, row in enumerate(kept):
        if row.position != position:
            row.position = position
    rows = [{**file_row(f), "recid": recid, "index_id": None, "position": len(kept) + i} for i, f in enumerate(add)]
    for batch in chunked(rows, BATCH):
        s.execute(insert(File), batch)
    s.flush()
    every = [
        file_dict(f)
        for f in s.scalars(select(File).where(File.recid == recid, File.index_id.is_(None)).order_by(File.position))
    ]
    return RecordInput(metadata={}, files=every).files_hash()


def _store_index(s: Session, recid: int, position: int, spec: IndexSpec) -> None:
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

    table = cast(sa.Table, File.__table__)
    for batch in chunked(rows(), BATCH):
        insert_rows(s, table, batch)  # COPY on PostgreSQL: 10,000,000 entries loaded at 3,455/s by INSERTs
    index.number_files = count
    index.size = total


def copy_files(s: Session, src: int, dst: int) -> None:
    """Copy the files and file indices of version ``src`` to version ``dst`` inside the database."""
    f = File.__table__.c
    s.execute(
        insert(File).from_select(
            ["recid", "index_id", *_COPIED],
            select(literal(dst), f.index_id, *[f[c] for c in _COPIED]).where(f.recid == src, f.index_id.is_(None)),
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
                ["recid", "index_id", *_COPIED],
                select(literal(dst), literal(copy_.id), *[f[c] for c in _COPIED]).where(f.index_id == index.id),
            )
        )
