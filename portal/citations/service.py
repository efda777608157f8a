"""Citations of records: external works added by owners and curators or imported from Scholix link files, and the
counts (with the portal's own records relating to a record) that pages, search and its `mostcited` sort show.

A citation belongs to the record's concept: it counts for every version, and adding one gives each published
version a new datestamp (OAI-PMH harvesters see it), a new search document and a new DataCite registration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.catalog.service import CatalogService
from portal.citations.identifiers import RELATIONS, WorkId, check_relation, parse_work_id
from portal.citations.models import RecordCitation
from portal.citations.scholix import read_links
from portal.db.engine import Database
from portal.db.models import Concept, Record
from portal.errors import Invalid, NotFound
from portal.exports.common import Related
from portal.i18n import N_
from portal.identity import policy
from portal.identity.principal import COMMAND_LINE, Principal
from portal.search.models import DOCS, FACET_ROWS


@dataclass(frozen=True)
class Citation:
    """An external work related to a record (``relation``: isCitedBy, isReferencedBy or isSupplementTo)."""

    id: int
    relation: str
    work: WorkId
    title: str | None
    source: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "relation": self.relation,
            "scheme": self.work.scheme,
            "identifier": self.work.value,
            "url": self.work.url,
            "title": self.title,
            "source": self.source,
            "created": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class CitedBy:
    """Who cites a record: the external works, and ``count``: those plus the portal's records (by concept) whose
    relations point at it."""

    recid: int
    concept_recid: int
    external: list[Citation]
    count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "recid": self.recid,
            "conceptrecid": self.concept_recid,
            "count": self.count,
            "external": [c.to_json() for c in self.external],
        }


@dataclass
class ImportReport:
    """A Scholix import: citations added, those known already, and each refused link by position with why."""

    added: int = 0
    known: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "known": self.known,
            "refused": [{"position": p, "reason": r} for p, r in self.refused],
        }


def _citation(row: RecordCitation) -> Citation:
    return Citation(row.id, row.relation, WorkId(row.scheme, row.identifier), row.title, row.source, row.created_at)


class CitationService:
    def __init__(self, db: Database, catalog: CatalogService) -> None:
        self.db = db
        self.catalog = catalog

    # -- adding and removing ------------------------------------------------------------------------------------
    def add(
        self,
        recid: int,
        relation: str,
        identifier: str,
        *,
        scheme: str | None = None,
        title: str | None = None,
        actor: Principal = COMMAND_LINE,
    ) -> Citation:
        """Record that the work ``identifier`` relates to record ``recid`` (any version: the concept) by
        ``relation``. Owners of the record and curators may (policy). Raises NotFound for an unknown record, Invalid
        naming the field (`relation`, `identifier`, `scheme`), also for a work listed already with that relation."""
        concept = self._concept(recid)
        policy.require_cite(actor, self._owners(concept))
        kind = check_relation(relation)
        work = parse_work_id(identifier, scheme or None)
        added: list[RecordCitation] = []

        def insert(s: Session) -> None:
            if self._find(s, concept, kind, work) is not None:
                raise Invalid(
                    N_("{work_label} is already listed as {kind} of this record"),
                    work_label=work.label,
                    kind=kind,
                    field="identifier",
                )
            row = RecordCitation(
                concept_recid=concept,
                relation=kind,
                scheme=work.scheme,
                identifier=work.value,
                title=(title or "").strip()[:500] or None,
                source="user",
                added_by=actor.user_id,
            )
            s.add(row)
            s.flush()
            added.append(row)

        self.catalog.touch(concept, insert)
        return _citation(added[0])

    def remove(self, recid: int, citation_id: int, *, actor: Principal = COMMAND_LINE) -> None:
        """Remove a citation of record ``recid``: owners and curators (policy). NotFound when it is not one."""
        concept = self._concept(recid)
        policy.require_cite(actor, self._owners(concept))

        def delete(s: Session) -> None:
            row = s.get(RecordCitation, citation_id)
            if row is None or row.concept_recid != concept:
                raise NotFound(
                    N_("record {recid} has no citation {citation_id}"),
                    recid=recid,
                    citation_id=citation_id,
                    field="citation",
                )
            s.delete(row)

        self.catalog.touch(concept, delete)

    def import_scholix(self, document: Any) -> ImportReport:
        """Citations from a Scholix document: each usable link whose one side is a record of this portal (by its
        version or concept DOI) is added; a link known already is counted as such; every other link is refused
        with its position and reason, and the good ones are kept all the same."""
        report = ImportReport()
        touched: dict[int, list[tuple[str, WorkId, str | None]]] = {}
        for link in read_links(document):
            if isinstance(link, Invalid):
                report.refused.append((int(str(link.source).split()[-1]), f"{link.field}: {link.detail}"))
                continue
            concept = self._concept_of_ids(link.record_ids)
            if concept is None:
                shown = ", ".join(i.label for i in link.record_ids)
                report.refused.append((link.position, f"no record of this portal has {shown}"))
                continue
            touched.setdefault(concept, []).append((link.relation, link.work, link.title))
        for concept, works in touched.items():
            added, known = self._insert_works(concept, works)
            report.added += added
            report.known += known
        return report

    def _insert_works(self, concept: int, works: list[tuple[str, WorkId, str | None]]) -> tuple[int, int]:
        """Add imported ``works`` to ``concept`` in one transaction: (how many were added, how many known)."""
        counts = [0, 0]

        def insert(s: Session) -> None:
            for relation, work, title in works:
                if self._find(s, concept, relation, work) is not None:
                    counts[1] += 1
                    continue
                s.add(
                    RecordCitation(
                        concept_recid=concept,
                        relation=relation,
                        scheme=work.scheme,
                        identifier=work.value,
                        title=title,
                        source="scholix",
                    )
                )
                s.flush()  # a file naming the same work twice finds the first one
                counts[0] += 1

        self.catalog.touch(concept, insert)
        return counts[0], counts[1]

    # -- reading ------------------------------------------------------------------------------------------------
    def may_cite(self, concept_recid: int, viewer: Principal) -> bool:
        """Whether ``viewer`` may add citing works to the record (the page offers its form then)."""
        return policy.may_cite(viewer, self._owners(concept_recid))

    def of_record(self, recid: int) -> CitedBy:
        concept = self._concept(recid)
        with self.db.reader() as s:
            rows = s.scalars(
                select(RecordCitation)
                .where(RecordCitation.concept_recid == concept)
                .order_by(RecordCitation.created_at, RecordCitation.id)
            )
            external = [_citation(r) for r in rows]
            count = _counts(s, [concept]).get(concept, 0)
        return CitedBy(recid, concept, external, int(count))

    def counts(self, concepts: list[int]) -> dict[int, int]:
        """The citation count of each concept in ``concepts`` (absent: none)."""
        if not concepts:
            return {}
        with self.db.reader() as s:
            return _counts(s, sorted(set(concepts)))

    @staticmethod
    def count_query() -> sa.Subquery:
        """Every cited concept's count as a subquery (``recid``: the concept, ``n``): its external citations plus
        the other concepts with a published version whose relations name one of its versions or itself. The
        search's `mostcited` sort joins it to the index as it joins the usage counts."""
        external = select(RecordCitation.concept_recid.label("recid"), func.count().label("n")).group_by(
            RecordCitation.concept_recid
        )
        targets = sa.union_all(
            select(Record.recid.label("rid"), Record.concept_recid.label("cid")),
            select(Concept.recid.label("rid"), Concept.recid.label("cid")),
        ).subquery("targets")
        incoming = (
            select(targets.c.cid.label("recid"), func.count(sa.distinct(DOCS.c.concept_recid)).label("n"))
            .select_from(
                FACET_ROWS.join(DOCS, DOCS.c.recid == FACET_ROWS.c.recid).join(
                    targets, sa.cast(targets.c.rid, sa.String) == FACET_ROWS.c.value
                )
            )
            .where(FACET_ROWS.c.facet == "related", DOCS.c.concept_recid != targets.c.cid)
            .group_by(targets.c.cid)
        )
        both = sa.union_all(external, incoming).subquery("cited")
        return (
            select(both.c.recid.label("recid"), func.sum(both.c.n).label("n"))
            .group_by(both.c.recid)
            .subquery("citations")
        )

    def related(self, concept_recid: int | None) -> list[Related]:
        """The record's external citations as related identifiers, for the exports (DataCite, Dublin Core)."""
        if concept_recid is None:
            return []
        with self.db.reader() as s:
            rows = s.scalars(
                select(RecordCitation)
                .where(RecordCitation.concept_recid == concept_recid)
                .order_by(RecordCitation.relation, RecordCitation.scheme, RecordCitation.identifier)
            )
            out = []
            for row in rows:
                scheme, value = WorkId(row.scheme, row.identifier).datacite
                out.append(Related(row.relation, value, scheme))
            return out

    # -- helpers ------------------------------------------------------------------------------------------------
    def _concept(self, recid: int) -> int:
        with self.db.reader() as s:
            rec = s.get(Record, recid)
            if rec is not None and rec.status == "published":
                return rec.concept_recid
            if rec is None and s.get(Concept, recid) is not None:
                return recid
        raise NotFound(N_("there is no record {recid}"), recid=recid, record=recid)

    def _owners(self, concept: int) -> list[int]:
        with self.db.reader() as s:
            owners = s.scalars(
                select(Record.owner_id).where(Record.concept_recid == concept, Record.owner_id.is_not(None)).distinct()
            )
            return [int(o) for o in owners if o is not None]

    def _concept_of_ids(self, ids: list[WorkId]) -> int | None:
        dois = [i.value for i in ids if i.scheme == "doi"]
        if not dois:
            return None
        with self.db.reader() as s:
            found = s.scalar(select(Record.concept_recid).where(func.lower(Record.doi).in_(dois)).limit(1))
            if found is None:
                found = s.scalar(select(Concept.recid).where(func.lower(Concept.doi).in_(dois)).limit(1))
            return int(found) if found is not None else None

    @staticmethod
    def _find(s: Session, concept: int, relation: str, work: WorkId) -> RecordCitation | None:
        return s.scalar(
            select(RecordCitation).where(
                RecordCitation.concept_recid == concept,
                RecordCitation.relation == relation,
                RecordCitation.scheme == work.scheme,
                RecordCitation.identifier == work.value,
            )
        )


__all__ = ["RELATIONS", "Citation", "CitationService", "CitedBy", "ImportReport"]


def _counts(s: Session, concepts: list[int]) -> dict[int, int]:
    """:meth:`CitationService.count_query`'s counts of a few ``concepts`` (absent: none), read by index: the
    relations naming one of their versions or themselves are looked up by value. Joined to the generic count
    query, PostgreSQL read every `related` facet row of the catalogue for each record page instead."""
    targets = {str(c): c for c in concepts}
    for rid, cid in s.execute(select(Record.recid, Record.concept_recid).where(Record.concept_recid.in_(concepts))):
        targets[str(rid)] = int(cid)
    citing: dict[int, set[int]] = {}
    rows = s.execute(
        select(FACET_ROWS.c.value, DOCS.c.concept_recid)
        .join(DOCS, DOCS.c.recid == FACET_ROWS.c.recid)
        .where(FACET_ROWS.c.facet == "related", FACET_ROWS.c.value.in_(sorted(targets)))
    )
    for value, citer in rows:
        cid = targets[value]
        if citer != cid:  # a version relating to another version of its own record is no citation
            citing.setdefault(cid, set()).add(int(citer))
    out = {cid: len(citers) for cid, citers in citing.items()}
    external = s.execute(
        select(RecordCitation.concept_recid, func.count())
        .where(RecordCitation.concept_recid.in_(concepts))
        .group_by(RecordCitation.concept_recid)
    )
    for cid, n in external:
        out[int(cid)] = out.get(int(cid), 0) + int(n)
    return out
