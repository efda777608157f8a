"""Reading the catalogue: resolving recids and DOIs to versions, versions of a concept, published recids."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.catalog.results import RecordView, Resolved
from portal.catalog.rows import (
    concept_of,
    hit_view,
    latest_published,
    latest_removed,
    record_view,
    tombstone,
)
from portal.db.engine import Database
from portal.db.models import Concept, Record
from portal.db.paging import page_of
from portal.errors import Invalid, NotFound
from portal.i18n import N_
from portal.pids.base import normalise_doi


class RecordReader:
    """Published record versions by recid, concept id or DOI; drafts only when asked for."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def resolve(self, recid: int) -> Resolved:
        """The version ``recid`` names (a concept id names its latest published version). Raises NotFound, or
        Removed (410) for a removed version and for a concept whose every published version was removed."""
        with self.db.reader() as s:
            rec = s.get(Record, recid)
            if rec is not None:
                if rec.status == "removed":
                    raise tombstone(rec)
                return Resolved(recid, False)
            if s.get(Concept, recid) is not None:
                latest = latest_published(s, recid)
                if latest is None:
                    removed = latest_removed(s, recid)
                    if removed is not None:  # every published version was removed: the concept is gone too
                        raise tombstone(removed)
                    raise NotFound(N_("record {recid} has no published version yet"), recid=recid, record=recid)
                return Resolved(latest.recid, True)
        raise NotFound(N_("there is no record {recid}"), recid=recid, record=recid)

    def get(self, recid: int, *, include_drafts: bool = False) -> RecordView:
        """The version ``recid`` (a concept id gives its latest published version). Raises NotFound."""
        target, _ = self.resolve(recid)
        with self.db.reader() as s:
            rec = s.get(Record, target)
            assert rec is not None
            if rec.status != "published" and not include_drafts:
                raise NotFound(N_("record {recid} is an unpublished draft"), recid=recid, record=recid)
            return record_view(s, rec)

    def get_hits(self, recids: list[int]) -> list[RecordView]:
        """The published versions ``recids`` in that order, without files (search hits, listings), read in three
        queries whatever their number: one `get` per hit cost a page of ten hits ~60 round trips. A recid that
        is not (or no longer) a published version is left out rather than failing the whole page: the search
        snapshot may name a record removed a moment ago."""
        if not recids:
            return []
        with self.db.reader() as s:
            rows = {
                r.recid: r
                for r in s.scalars(select(Record).where(Record.recid.in_(recids), Record.status == "published"))
            }
            concepts = {r.concept_recid for r in rows.values()}
            concept_dois = dict(s.execute(select(Concept.recid, Concept.doi).where(Concept.recid.in_(concepts))).all())
            latest: dict[int, tuple[int, int]] = {}  # concept -> (version index, recid) of its latest version
            for recid, concept, version in s.execute(
                select(Record.recid, Record.concept_recid, Record.version_index).where(
                    Record.concept_recid.in_(concepts), Record.status == "published"
                )
            ):
                if concept not in latest or version > latest[concept][0]:
                    latest[concept] = (version, recid)
            return [
                hit_view(rows[r], concept_dois.get(rows[r].concept_recid), latest[rows[r].concept_recid][1])
                for r in recids
                if r in rows
            ]

    def find_by_doi(self, doi: str) -> RecordView:
        """The version with this DOI, or the latest version when it is a concept DOI. Raises NotFound, or
        Removed (410) when that version was removed."""
        wanted = normalise_doi(doi)
        with self.db.reader() as s:
            rec = s.scalar(select(Record).where(func.lower(Record.doi) == wanted))
            if rec is None:
                concept = s.scalar(select(Concept).where(func.lower(Concept.doi) == wanted))
                if concept is not None:
                    rec = latest_published(s, concept.recid) or latest_removed(s, concept.recid)
            if rec is not None and rec.status == "removed":
                raise tombstone(rec)  # a DOI never stops resolving: it leads to the tombstone
            if rec is None or rec.status != "published":
                raise NotFound(N_("no record has DOI {doi}"), doi=doi, field="doi")
            return record_view(s, rec)

    def lookup(self, field: str, value: str) -> list[RecordView]:
        """Published versions whose ``field`` (doi, title or recid) equals ``value`` exactly."""
        if field == "doi":
            try:
                return [self.find_by_doi(value)]
            except NotFound:
                return []
        if field == "recid":
            if not value.isdigit():
                raise Invalid(N_("recid must be a number, got {value!r}"), value=value, field="q")
            try:
                return [self.get(int(value))]
            except NotFound:
                return []
        with self.db.reader() as s:
            rows = s.scalars(
                select(Record).where(Record.title == value, Record.status == "published").order_by(Record.recid)
            ).all()
            return [record_view(s, r, with_files=False) for r in rows]

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
        """All published versions of the concept of ``recid``, newest first (without files)."""
        with self.db.reader() as s:
            concept_recid = concept_of(s, recid)
            rows = s.scalars(
                select(Record)
                .where(Record.concept_recid == concept_recid, Record.status == "published")
                .order_by(Record.version_index.desc())
            ).all()
            return [record_view(s, r, with_files=False, latest=rows[0]) for r in rows]

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

    def chunk_starts(self, size: int) -> list[int]:
        """Cursors that cut the published recids into chunks of ``size``: ``list_recids(after=c, limit=size)``
        lists one chunk for each cursor ``c``. The first is 0, and no chunk is empty (but the only one of an
        empty catalogue)."""
        published = select(Record.recid).where(Record.status == "published").order_by(Record.recid)
        starts = [0]
        with self.db.reader() as s:
            while True:
                last = s.scalar(published.where(Record.recid > starts[-1]).offset(size - 1).limit(1))
                if last is None or s.scalar(published.where(Record.recid > last).limit(1)) is None:
                    return starts
                starts.append(last)

    def count_published(self) -> int:
        with self.db.reader() as s:
            return s.scalar(select(func.count()).select_from(Record).where(Record.status == "published")) or 0

    def owned_by(self, user_id: int, *, page: int = 1, size: int = 20) -> tuple[list[RecordView], int]:
        """The versions (drafts and published) ``user_id`` owns, newest change first (without files), and how
        many there are."""
        owned = select(Record).where(Record.owner_id == user_id)
        with self.db.reader() as s:
            rows, total = page_of(s, owned, Record.updated_at.desc(), Record.recid.desc(), page=page, size=size)
            return [record_view(s, r, with_files=False) for r in rows], total
