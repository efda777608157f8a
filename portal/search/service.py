"""The search service: keeps the index in step with the catalogue and answers searches, from a per-process
columnar snapshot of the index (:mod:`portal.search.memory`) or as SQL (:mod:`portal.search.sql`); ranked full
text comes from the text backend (:mod:`portal.search.backends`), popularity from the usage statistics."""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Sequence
from functools import partial

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from portal.db.bulk import insert_rows
from portal.db.engine import Database
from portal.db.models import File, Record
from portal.errors import Invalid, Unavailable
from portal.i18n import N_
from portal.search import memory
from portal.search.backends.base import TextBackend
from portal.search.cursor import decode_cursor, encode_cursor
from portal.search.documents import FACETS, SearchDocument, build_document
from portal.search.models import DOCS, FACET_ROWS, STATE
from portal.search.query import Node, Text, parse, positive_texts
from portal.search.results import (
    COUNTED_SORTS,
    SNAPSHOT_COUNTED_SORTS,
    SORTS,
    FacetBucket,
    SearchRequest,
    SearchResult,
)
from portal.search.sql import Popularity, SQLSearch, facet_values

__all__ = ["SearchRequest", "SearchResult", "SearchService"]

log = logging.getLogger(__name__)


class SearchService:
    """Indexing and search. Searches are answered from a per-process columnar snapshot of the index
    (:mod:`portal.search.memory`) plus the text backend; ``in_memory=False`` (and the usage sorts, whose
    counts move without the index) answer them with SQL alone — the same results, slower on large catalogues."""

    def __init__(
        self,
        db: Database,
        backend: TextBackend,
        *,
        popularity: Popularity,
        in_memory: bool = True,
        warm_words: int = 48,
    ) -> None:
        """``backend``: stores and ranks the text. ``popularity``: the usage counts the "most viewed" and "most
        downloaded" sorts order by (see :data:`portal.search.sql.Popularity`). ``warm_words``: how many of the
        most frequent words get their scores fetched in a background thread whenever a snapshot is built
        (0: none), so that the first searches for them are not the slow ones."""
        self.db = db
        self.backend = backend
        self._sql = SQLSearch(db, backend, popularity)
        self.in_memory = in_memory
        self.warm_words = warm_words
        self._snapshot: memory.Snapshot | None = None
        self._snapshot_lock = threading.Lock()
        self._warmed = threading.Event()
        self._warmed.set()
        self._refresher: threading.Thread | None = None
        self._closed = threading.Event()

    # ----------------------------------------------------------------- indexing
    def index(self, s: Session, rec: Record) -> None:
        """Catalogue observer: (re)index a record version; drafts leave the index."""
        s.execute(delete(FACET_ROWS).where(FACET_ROWS.c.recid == rec.recid))
        self.backend.remove(s, rec.recid)
        s.execute(delete(DOCS).where(DOCS.c.recid == rec.recid))
        if rec.status == "published":
            formats = [f for f in s.scalars(select(File.format).where(File.recid == rec.recid).distinct()) if f]
            self._insert(s, [build_document(rec.recid, rec.concept_recid, rec.doi, rec.data, formats)], set())
        latest = s.scalar(
            select(Record.recid)
            .where(Record.concept_recid == rec.concept_recid, Record.status == "published")
            .order_by(Record.version_index.desc())
            .limit(1)
        )
        s.execute(
            update(DOCS)
            .where(DOCS.c.concept_recid == rec.concept_recid)
            .values(is_latest=DOCS.c.recid == (latest if latest is not None else -1))
        )
        self._changed(s)

    @staticmethod
    def _changed(s: Session) -> None:
        """Move the index generation on, in the transaction that changed the index (snapshots go stale)."""
        s.execute(update(STATE).where(STATE.c.id == 1).values(generation=STATE.c.generation + 1))

    def _insert(self, s: Session, docs: Sequence[SearchDocument], latest: set[int]) -> None:
        """Write documents, their text and their facet rows (``latest``: the recids to mark latest)."""
        rows = [
            {
                "recid": d.recid,
                "concept_recid": d.concept_recid,
                "is_latest": d.recid in latest,
                "title": d.title,
                "title_sort": d.title.lower()[:500],
                "doi": d.doi,
                "date_published": d.date_published,
                "year": d.year,
                "number_events": d.number_events,
            }
            for d in docs
        ]
        self.backend.insert(s, docs, rows)
        facets = [{"recid": d.recid, "facet": f, "value": v} for d in docs for f, v in sorted(d.facets)]
        insert_rows(s, FACET_ROWS, facets)  # COPY on PostgreSQL (a reindex writes ~10 rows per record)

    def missing(self) -> int:
        """Published record versions not in the index (e.g. loaded before the index existed)."""
        with self.db.reader() as s:
            published = s.scalar(select(func.count()).select_from(Record).where(Record.status == "published")) or 0
            indexed = s.scalar(select(func.count()).select_from(DOCS)) or 0
            return published - indexed

    def reindex(self, batch_size: int = 2000) -> int:
        """Rebuild the whole index from the catalogue in one transaction (readers see the old index until it
        commits); returns the number of record versions looked at (drafts included).

        Bulk work with bounded memory: records are read ``batch_size`` at a time in recid order; the latest
        version of each batch's concepts is asked for per batch (not held for the whole catalogue: 1,000,000
        records), documents, text and facet rows go in by COPY on PostgreSQL (see the backend's ``insert``
        and :func:`portal.db.bulk.insert_rows`), and the index is optimised once at the end. It stays one
        transaction so that no search sees half an index; PostgreSQL holds a large transaction without
        trouble (the cost is the dead rows of the old index, which VACUUM reclaims)."""
        with self.db.transaction() as s:
            s.execute(delete(FACET_ROWS))
            self.backend.clear(s)
            s.execute(delete(DOCS))
            count = s.scalar(select(func.count()).select_from(Record)) or 0
            after = None
            while True:
                query = (
                    select(Record.recid, Record.concept_recid, Record.doi, Record.data)
                    .where(Record.status == "published")
                    .order_by(Record.recid)
                    .limit(batch_size)
                )
                batch = s.execute(query if after is None else query.where(Record.recid > after)).all()
                if not batch:
                    break
                best: dict[int, tuple[int, int]] = {}
                for recid, concept, version in s.execute(
                    select(Record.recid, Record.concept_recid, Record.version_index).where(
                        Record.status == "published", Record.concept_recid.in_({r.concept_recid for r in batch})
                    )
                ):
                    if concept not in best or version > best[concept][0]:
                        best[concept] = (version, recid)
                latest = {recid for _, recid in best.values()}
                formats: dict[int, list[str]] = {}
                for recid, fmt in s.execute(
                    select(File.recid, File.format)
                    .distinct()
                    .where(File.recid.between(batch[0].recid, batch[-1].recid))
                ):
                    if fmt:
                        formats.setdefault(recid, []).append(fmt)
                self._insert(
                    s,
                    [build_document(r.recid, r.concept_recid, r.doi, r.data, formats.get(r.recid)) for r in batch],
                    latest,
                )
                after = batch[-1].recid
            self.backend.optimise(s)
            self._changed(s)
        return count

    # ------------------------------------------------------------------ search
    def search(self, req: SearchRequest) -> SearchResult:
        """One page of hits with facet counts. :class:`Invalid` (400) for a malformed query, an unknown facet
        or sort, a size or page out of range, or a cursor this search did not return; the text backend's
        :class:`portal.errors.Unavailable` (503) when the full-text index cannot be reached."""
        if req.size < 1 or req.size > 1000:
            raise Invalid(N_("size must be between 1 and 1000"), field="size")
        if req.page < 1:
            raise Invalid(N_("page must be at least 1"), field="page")
        for name in req.filters:
            if name not in FACETS:
                raise Invalid(
                    N_("unknown facet {name!r}; facets: {choices}"), name=name, choices=", ".join(FACETS), field=name
                )
        ast = parse(req.q)
        sort = req.sort or ("bestmatch" if ast is not None else "mostrecent")
        if sort not in SORTS:
            raise Invalid(N_("sort must be one of {choices}"), choices=", ".join(SORTS), field="sort")
        if self.in_memory and (sort not in COUNTED_SORTS or sort in SNAPSHOT_COUNTED_SORTS):
            result = self._search_memory(req, ast, sort)
            if result is not None:
                return result
        return self._sql.search(req, ast, sort)

    def snapshot(self, s: Session) -> memory.Snapshot:
        """The columnar view of the index at its current generation (rebuilt when the index changed)."""
        generation = s.scalar(select(STATE.c.generation).where(STATE.c.id == 1))
        snap = self._snapshot
        if snap is not None and snap.generation == generation:
            return snap
        with self._snapshot_lock:
            snap = self._snapshot
            if snap is None or snap.generation != generation:
                snap = memory.Snapshot(s, generation or 0, DOCS, FACET_ROWS, self.backend.id_list)
                self._snapshot = snap
                if self.warm_words > 0 and snap.n:
                    self._warmed.clear()
                    threading.Thread(target=self._warm, args=(snap,), name="search-warm", daemon=True).start()
                else:
                    self._warmed.set()
        return snap

    def prepare(self, refresh_interval: float = 1.0) -> None:
        """Build the snapshot now (which starts warming its frequent words), so that the first search after a
        web worker starts does not pay for it; the web server calls this in the background at worker start.

        Then keep it fresh off-request: every ``refresh_interval`` seconds (0: never) a thread compares the
        index generation with the snapshot's and rebuilds and re-warms it after a catalogue write, so the
        first search after the write — in this worker or any other — does not pay the rebuild."""
        if not self.in_memory:
            return
        with self.db.reader() as s:
            self.snapshot(s)
        if refresh_interval > 0 and self._refresher is None:
            self._refresher = threading.Thread(
                target=self._refresh, args=(refresh_interval,), name="search-refresh", daemon=True
            )
            self._refresher.start()

    def _refresh(self, interval: float) -> None:
        while not self._closed.wait(interval):
            try:
                with self.db.reader() as s:
                    self.snapshot(s)  # a no-op while the generation is unchanged: one small read
            except Exception:  # noqa: BLE001 - the database may be restarting; a search rebuilds it itself
                log.debug("refreshing the search snapshot failed", exc_info=True)

    def close(self) -> None:
        """Stop the refresher thread (if `prepare` started one)."""
        self._closed.set()
        if self._refresher is not None:
            self._refresher.join(5)
            self._refresher = None

    def probe(self) -> str:
        """How searches are answered now; raises Unavailable while the snapshot a worker needs is not built
        yet (web workers build it at start, see `prepare`) or the index cannot be read."""
        if not self.in_memory:
            return "SQL search"
        if self._snapshot is None:
            raise Unavailable(N_("the search snapshot is still being built"))
        with self.db.reader() as s:
            snap = self.snapshot(s)
        return f"snapshot of {snap.n} records" + ("" if self._warmed.is_set() else ", warming")

    def wait_warm(self, timeout: float | None = None) -> bool:
        """Wait until the words of the latest snapshot are warm (or warming gave up); False on timeout."""
        return self._warmed.wait(timeout)

    # Words in fewer documents than this are cheap to score when asked for: not worth fetching in advance.
    WARM_MIN_DOCS = 2000

    def _warm(self, snap: memory.Snapshot) -> None:
        """Fetch the citation counts of ``snap``'s documents (the `mostcited` sort), then the scores (which are also
        the match sets) of the most frequent words into ``snap``'s cache, most frequent first, while ``snap`` is
        the current snapshot. Best effort: errors only end it early."""
        try:
            with self.db.reader() as s:
                if s.scalar(select(STATE.c.generation).where(STATE.c.id == 1)) != snap.generation:
                    return
                for sort in sorted(SNAPSHOT_COUNTED_SORTS):  # one aggregation each, so no search waits for it
                    snap.counted.get(sort, partial(self._counted, s, snap, sort))
                min_docs = max(self.WARM_MIN_DOCS, snap.n // 50)
                for key in self.backend.frequent_keys(s, min_docs, self.warm_words):
                    if self._snapshot is not snap:
                        return
                    if snap.cache.used >= snap.cache.budget // 2:
                        # The rest is left to the words searched for: warming on would only evict words warmed
                        # here (1 s of database work each at 1,000,000 records) or keep the searched ones out.
                        return
                    snap.cache.get(("score", key), partial(self._scores, s, snap, key))
        except Exception:  # noqa: BLE001 - a search that needs the word fetches it itself
            log.debug("warming the search snapshot stopped", exc_info=True)
        finally:
            if self._snapshot is snap:
                self._warmed.set()

    def _search_memory(self, req: SearchRequest, ast: Node | None, sort: str) -> SearchResult | None:
        """The search answered from the snapshot; None when a cursor names a row that is no longer there
        as it was (the SQL formulation then continues after its values)."""
        with self.db.reader() as s:
            snap = self.snapshot(s)
            n = snap.n
            score = None
            ranked_alone = None
            fetched: dict[Hashable, tuple[np.ndarray, np.ndarray]] = {}
            keys = self.backend.rank_keys(positive_texts(ast)) if sort == "bestmatch" and ast is not None else None
            if keys is not None:  # (scores first: they also give the match sets of the words they rank)
                for key in keys:
                    # (held here: a full cache may not have kept them)
                    fetched[key] = snap.cache.get(("score", key), partial(self._scores, s, snap, key))
                if (
                    len(keys) == 1
                    and isinstance(ast, Text)
                    and self.backend.score_key(ast) == keys[0]
                    and not req.cursor
                ):
                    # One word (or phrase) that both selects and ranks, the commonest search: its scores are
                    # held in rank order (see _scores) and every hit is among them, so a page is read from the
                    # front of that order, as a listing is: no score array of the whole catalogue, no partition
                    # of all the matches (~25 ms for a word in 767,000 of 1,000,000 documents).
                    ranked_alone = fetched[keys[0]]
                else:
                    score = np.zeros(n, dtype=np.float64)
                    for key in keys:
                        held, scores = fetched[key]
                        score[held] += scores
            counted = sort in SNAPSHOT_COUNTED_SORTS
            if counted:
                # Every concept's count over the whole catalogue: an aggregation of all the `related` facet rows
                # (seconds at 200,000 records: benchmarks/mostcited_sort.py). It changes only with the index, so
                # it is read once per snapshot (an index generation; the warming thread reads it first).
                score = snap.counted.get(sort, partial(self._counted, s, snap, sort))
            evaluator = memory.Evaluator(
                snap, s, self.backend, lambda facet, value, values: facet_values(s, facet, value, values), fetched
            )
            base = evaluator.selected(ast) if ast is not None else np.ones(n, dtype=bool)
            if not req.all_versions:
                base = base & snap.latest
            if req.hidden:
                base = base & ~np.isin(snap.recids, np.fromiter(req.hidden, dtype=np.int64))
            filters: dict[str, np.ndarray] = {}
            for name, values in req.filters.items():
                if values:
                    column = snap.facets[name]
                    filters[name] = column.holders([column.index[v] for v in values if v in column.index], n)
            match = base & memory.combine_filters(filters, n)
            # The total and the facet counts depend on the selection only: counted once per snapshot (exact).
            selection = (
                req.q,
                tuple(sorted((name, tuple(sorted(set(values)))) for name, values in req.filters.items() if values)),
                req.all_versions,
                req.hidden,
            )
            total, aggregations = snap.summaries.get(selection, lambda: self._summarise(snap, base, filters, match))
            start = 0 if req.cursor else (req.page - 1) * req.size
            cursor = decode_cursor(req.cursor, 2) if req.cursor else None
            if ranked_alone is not None:
                ranked, ranks = ranked_alone
                hits = memory.top_by_order(ranked, match, start, req.size + 1)
                key_of = lambda p: float(ranks[np.flatnonzero(ranked == p)[0]])  # noqa: E731 - one lookup a page
            elif score is not None:
                if cursor is not None:
                    v1, v2 = cursor
                    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in cursor):
                        return None
                    match = match & ((score < v1) | ((score == v1) & (snap.recids > v2)))
                hits = memory.top_by_score(score, match, start, req.size + 1)
                # (a count's cursor holds it as an integer, as the SQL formulation's does)
                key_of = (lambda p: int(score[p])) if counted else (lambda p: float(score[p]))  # noqa: E731
            else:
                if sort in ("title", "-title"):
                    order, rank, strings = snap.order_title, snap.rank_title, snap.title_sort
                    if sort == "-title":
                        order = order[::-1]
                else:  # mostrecent, and best match without words to rank
                    order, rank, strings = snap.order_recent, snap.rank_recent, snap.date_published
                if cursor is not None:
                    v1, v2 = cursor
                    at = (
                        snap.positions(np.array([v2], dtype=np.int64))
                        if isinstance(v2, int)
                        else np.zeros(0, dtype=np.int32)
                    )
                    if len(at) != 1 or strings[int(at[0])] != v1:
                        return None
                    beyond = rank < rank[at[0]] if sort == "-title" else rank > rank[at[0]]
                    match = match & beyond
                hits = memory.top_by_order(order, match, start, req.size + 1)
                key_of = lambda p: strings[p]  # noqa: E731
            more = len(hits) > req.size
            hits = hits[: req.size]
            recids = [int(snap.recids[p]) for p in hits]
            cited = None
            if counted and score is not None:
                cited = {int(snap.concepts[p]): int(score[p]) for p in hits if score[p]}
            next_cursor = encode_cursor([key_of(int(hits[-1])), recids[-1]]) if more and len(hits) else None
        return SearchResult(
            total=total,
            recids=recids,
            aggregations=dict(aggregations),
            next_cursor=next_cursor,
            sort=sort,
            cited=cited,
        )

    @staticmethod
    def _summarise(
        snap: memory.Snapshot, base: np.ndarray, filters: dict[str, np.ndarray], match: np.ndarray
    ) -> tuple[int, dict[str, list[FacetBucket]]]:
        """The total of ``match`` and the facet counts (a facet's own filter does not narrow its counts)."""
        n = snap.n
        aggregations: dict[str, list[FacetBucket]] = {}
        for facet in FACETS:
            if facet not in filters:
                aggregations[facet] = memory.facet_counts(snap.facets[facet], match, db_order=False)
        for facet in filters:
            narrowed = base & memory.combine_filters(filters, n, skip=facet)
            aggregations[facet] = memory.facet_counts(snap.facets[facet], narrowed, db_order=True)
        return int(np.count_nonzero(match)), {f: aggregations[f] for f in FACETS}

    def _counted(self, s: Session, snap: memory.Snapshot, sort: str) -> np.ndarray:
        """The count of sort ``sort`` of each document's concept (0: none), by the same query the SQL formulation
        joins (:data:`portal.search.sql.Popularity`), so both order alike."""
        counts = self._sql.popularity(COUNTED_SORTS[sort])
        rows = s.execute(select(counts.c.recid, counts.c.n)).all()
        concepts = np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
        values = np.fromiter((int(r[1] or 0) for r in rows), dtype=np.float64, count=len(rows))
        score = np.zeros(snap.n, dtype=np.float64)
        if len(concepts) and snap.n:
            order = np.argsort(concepts)
            concepts, values = concepts[order], values[order]
            at = np.searchsorted(concepts, snap.concepts)
            at[at >= len(concepts)] = 0
            known = concepts[at] == snap.concepts
            score[known] = values[at[known]]
        return score

    def _scores(self, s: Session, snap: memory.Snapshot, key: Hashable) -> tuple[np.ndarray, np.ndarray]:
        ids, values = self.backend.scores(s, key)
        positions, known = snap.locate(ids)
        values = values[known]
        # Held in rank order (score high first, then position, i.e. recid, ascending: the order of the hits of a
        # search for this part alone); adding scores and making match sets do not depend on the order.
        order = np.lexsort((positions, -values))
        return positions[order], values[order]

    def related_to(self, recid: int) -> list[int]:
        """Records whose relations point at ``recid`` (the other direction of a relation)."""
        with self.db.reader() as s:
            return list(
                s.scalars(
                    select(FACET_ROWS.c.recid)
                    .where(FACET_ROWS.c.facet == "related", FACET_ROWS.c.value == str(recid))
                    .order_by(FACET_ROWS.c.recid)
                    .limit(50)
                )
            )
