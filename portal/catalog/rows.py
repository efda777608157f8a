"""Between database rows and catalogue results: file rows as dicts, stored metadata, record views, and the
small queries every part of the catalogue shares (a version's concept, a concept's latest version)."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.catalog.results import RecordView
from portal.db.models import Concept, File, FileIndex, Record
from portal.errors import NotFound, Removed
from portal.i18n import N_

BATCH = 20_000  # file rows per INSERT or per fetch: bounded memory for a million-file index
VIEW_FILES = 1000  # direct files a RecordView carries; the file listings page through the rest
# Fields kept in columns rather than in the stored metadata JSON.
COLUMN_FIELDS = (
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


def now() -> datetime:
    return datetime.now(UTC)


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


def stored_metadata(md: dict[str, Any], publisher: str) -> dict[str, Any]:
    """The metadata JSON as stored: without the fields kept in columns, recid as a string, a publisher."""
    stored = {k: copy.deepcopy(v) for k, v in md.items() if k not in COLUMN_FIELDS}
    stored["recid"] = str(md["recid"])
    stored.setdefault("publisher", publisher)
    return stored


def file_dict(f: File) -> dict[str, Any]:
    """A file row in the record JSON's shape (fields that are unset are left out)."""
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


def get_record(s: Session, recid: int) -> Record:
    """The version ``recid``. Raises NotFound (a concept id is not a version)."""
    rec = s.get(Record, recid)
    if rec is None:
        raise NotFound(N_("there is no record version {recid}"), recid=recid, record=recid)
    return rec


def concept_of(s: Session, recid: int) -> int:
    """The concept id of version ``recid``, or ``recid`` itself when it is a concept id. Raises NotFound."""
    rec = s.get(Record, recid)
    if rec is not None:
        return rec.concept_recid
    if s.get(Concept, recid) is not None:
        return recid
    raise NotFound(N_("there is no record {recid}"), recid=recid, record=recid)


def tombstone(rec: Record) -> Removed:
    """The error a removed version answers with (410: its reason and citation)."""
    moment = rec.removed_at
    if moment is not None and moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    removed_at = moment.isoformat().replace("+00:00", "Z") if moment else ""
    return Removed(
        N_("record {recid} was removed: {reason}"),
        record=rec.recid,
        doi=rec.doi,
        reason=rec.removal_reason or "",
        citation=rec.removal_citation or "",
        removed_at=removed_at,
    )


def latest_removed(s: Session, concept_recid: int) -> Record | None:
    return s.scalar(
        select(Record)
        .where(Record.concept_recid == concept_recid, Record.status == "removed")
        .order_by(Record.version_index.desc())
        .limit(1)
    )


def latest_published(s: Session, concept_recid: int) -> Record | None:
    return s.scalar(
        select(Record)
        .where(Record.concept_recid == concept_recid, Record.status == "published")
        .order_by(Record.version_index.desc())
        .limit(1)
    )


def file_scope(s: Session, recid: int, index_key: str | None) -> tuple[int | None, int]:
    """(file index id or None for the direct files, number of files in that scope). Raises NotFound."""
    if index_key is None:
        total = (
            s.scalar(select(func.count()).select_from(File).where(File.recid == recid, File.index_id.is_(None))) or 0
        )
        return None, total
    index = s.scalar(select(FileIndex).where(FileIndex.recid == recid, FileIndex.key == index_key))
    if index is None:
        raise NotFound(
            N_("record {recid} has no file index {index_key!r}"),
            recid=recid,
            index_key=index_key,
            record=recid,
            field="index",
        )
    return index.id, index.number_files


def hit_view(rec: Record, concept_doi: str | None, latest_recid: int | None) -> RecordView:
    """The view of version ``rec`` without files, from what a batched read already has (see `get_hits`)."""
    return RecordView(
        recid=rec.recid,
        concept_recid=rec.concept_recid,
        concept_doi=concept_doi,
        doi=rec.doi,
        status=rec.status,
        version_index=rec.version_index,
        is_latest=latest_recid == rec.recid,
        latest_recid=latest_recid,
        revision=rec.revision,
        metadata=copy.deepcopy(rec.data),
        files=[],
        indices=[],
        created_at=rec.created_at,
        updated_at=rec.updated_at,
        published_at=rec.published_at,
        owner_id=rec.owner_id,
    )


def record_view(s: Session, rec: Record, *, with_files: bool = True, latest: Record | None = None) -> RecordView:
    """The view of version ``rec``. ``latest``: the concept's latest published version, when the caller has it
    already; ``with_files=False`` leaves files and indices empty (listings of versions, search hits)."""
    concept = s.get(Concept, rec.concept_recid)
    latest = latest or latest_published(s, rec.concept_recid)
    files: list[dict[str, Any]] = []
    indices: list[dict[str, Any]] = []
    if with_files:
        files = [
            file_dict(f)
            for f in s.scalars(
                select(File)
                .where(File.recid == rec.recid, File.index_id.is_(None))
                .order_by(File.position)
                .limit(VIEW_FILES)
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
    view = hit_view(rec, concept.doi if concept else None, latest.recid if latest else None)
    return dataclasses.replace(view, files=files, indices=indices) if with_files else view
