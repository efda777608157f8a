"""An in-memory, columnar view of the search index (per process) that answers the expensive parts of a search
— match sets, facet filters and counts, totals and the top page — with numpy instead of SQL.

The database stays the truth: the snapshot is rebuilt when the index generation (bumped in the same
transaction as every index change) moves on, and the full-text part is still answered by the text backend
(FTS5 / PostgreSQL full text), whose match sets and scores are cached per generation. Results are the same
as the SQL formulation in :mod:`portal.search.sql`, including SQL's three-valued logic for NULL columns
(``-number_events:>10`` does not list records without an event count) and the database's collation for
orderings (sort orders are read from the database, not sorted in Python).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import Invalid
from portal.i18n import N_
from portal.search.documents import FACETS
from portal.search.query import And, Exact, Node, Not, Or, Range, Text
from portal.search.results import FacetBucket

Mask = np.ndarray  # bool, one entry per document position


def parse_ids(text: str | None) -> np.ndarray:
    """Comma-separated integers (as produced by group_concat/string_agg) as an int64 array."""
    if not text:
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(text, dtype=np.int64, sep=",")  # type: ignore[call-overload, no-any-return]


@dataclass
class FacetColumn:
    """The rows of one facet sorted by value: ``values[v]`` is held by documents ``pos[offsets[v]:offsets[v+1]]``.
    ``db_rank[v]`` is the value's place in the database's own ordering (collation) of the facet's values."""

    values: list[str]
    index: dict[str, int]
    pos: np.ndarray
    offsets: np.ndarray
    db_rank: np.ndarray

    def holders(self, value_ids: Sequence[int], n: int) -> Mask:
        mask = np.zeros(n, dtype=bool)
        for v in value_ids:
            mask[self.pos[self.offsets[v] : self.offsets[v + 1]]] = True
        return mask

    def counts(self, mask: Mask) -> np.ndarray:
        """Documents of ``mask`` holding each value (every value has at least one row: no empty segments)."""
        if not len(self.values):
            return np.zeros(0, dtype=np.int64)
        # (take() gathers ~40% faster than fancy indexing)
        return np.add.reduceat(
            mask.view(np.uint8).take(self.pos),
            self.offsets[:-1],  # type: ignore[no-any-return]
            dtype=np.int64,
        )


class Snapshot:
    """Every indexed document at one index generation, as arrays indexed by position (recid order)."""

    def __init__(
        self, s: Session, generation: int, docs: sa.Table, facet_rows: sa.Table, id_list: Callable[[Any], Any]
    ) -> None:
        """``id_list(column)``: the aggregate giving a group's values comma-separated (group_concat/string_agg)."""
        self.generation = generation
        rows = s.execute(
            select(
                docs.c.recid,
                docs.c.concept_recid,
                docs.c.is_latest,
                docs.c.year,
                docs.c.number_events,
                docs.c.doi,
                docs.c.date_published,
                docs.c.title_sort,
            ).order_by(docs.c.recid)
        ).all()
        n = self.n = len(rows)
        self.recids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
        self.concepts = np.fromiter((r[1] for r in rows), dtype=np.int64, count=n)
        self.latest = np.fromiter((bool(r[2]) for r in rows), dtype=bool, count=n)
        self.year = np.fromiter((np.nan if r[3] is None else r[3] for r in rows), dtype=np.float64, count=n)
        self.events_known = np.fromiter((r[4] is not None for r in rows), dtype=bool, count=n)
        self.events = np.fromiter((0 if r[4] is None else r[4] for r in rows), dtype=np.int64, count=n)
        self.dois: dict[str, list[int]] = {}
        for i, r in enumerate(rows):
            if r[5] is not None:
                self.dois.setdefault(r[5], []).append(i)
        self.date_published = [r[6] for r in rows]
        self.title_sort = [r[7] for r in rows]
        self.has_doi = np.zeros(n, dtype=bool)
        for held in self.dois.values():
            self.has_doi[held] = True

        # Sort orders exactly as the database orders them (its collation), as document positions.
        def ordered(*keys: Any) -> np.ndarray:
            ids = s.scalars(select(docs.c.recid).order_by(*keys)).all()
            return self.positions(np.fromiter(ids, dtype=np.int64, count=len(ids)))

        self.order_recent = ordered(docs.c.date_published.desc(), docs.c.recid.desc())
        self.order_title = ordered(docs.c.title_sort, docs.c.recid)
        self.rank_recent = np.empty(n, dtype=np.int64)
        self.rank_recent[self.order_recent] = np.arange(n)
        self.rank_title = np.empty(n, dtype=np.int64)
        self.rank_title[self.order_title] = np.arange(n)
        grouped = s.execute(
            select(facet_rows.c.facet, facet_rows.c.value, id_list(facet_rows.c.recid))
            .where(facet_rows.c.facet.in_(FACETS))
            .group_by(facet_rows.c.facet, facet_rows.c.value)
            .order_by(facet_rows.c.facet, facet_rows.c.value)
        ).all()
        parts: dict[str, list[tuple[str, np.ndarray]]] = {f: [] for f in FACETS}
        for facet, value, ids in grouped:
            positions = self.positions(parse_ids(ids))
            if len(positions):  # (rows of documents written after the documents were read are left out)
                parts[facet].append((value, positions))
        self.facets: dict[str, FacetColumn] = {}
        for facet, items in parts.items():
            db_rank = np.arange(len(items), dtype=np.int64)  # the rows came in database order
            by_value = sorted(range(len(items)), key=lambda i: items[i][0])
            values = [items[i][0] for i in by_value]
            pos = [np.sort(items[i][1]).astype(np.int32) for i in by_value]
            sizes = np.array([len(p) for p in pos], dtype=np.int64)
            self.facets[facet] = FacetColumn(
                values=values,
                index={v: i for i, v in enumerate(values)},
                pos=np.concatenate(pos) if pos else np.zeros(0, dtype=np.int32),
                offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                db_rank=db_rank[by_value] if items else db_rank,
            )
        self.years_by_value = {int(v): i for i, v in enumerate(self.facets["year"].values) if v.isdigit()}
        self.cache = _Cache(max(CACHE_MIN_BYTES, n * CACHE_BYTES_PER_DOC))
        self.summaries = Summaries()
        # Per counted sort answered here (portal.search.results.SNAPSHOT_COUNTED_SORTS): each document's count.
        self.counted = Summaries(size=4)

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """Positions of the documents among ``ids``; ids not in this snapshot are dropped."""
        return self.locate(ids)[0]

    def locate(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions of the documents among ``ids``, which of ``ids`` are in this snapshot)."""
        if not len(ids) or not self.n:
            return np.zeros(0, dtype=np.int32), np.zeros(len(ids), dtype=bool)
        pos = np.searchsorted(self.recids, ids)
        pos[pos >= self.n] = 0
        known = self.recids[pos] == ids
        return pos[known].astype(np.int32), known

    def mask(self, positions: np.ndarray) -> Mask:
        out = np.zeros(self.n, dtype=bool)
        out[positions] = True
        return out


# The budget of a snapshot's cache of match sets and scores. Its entries grow with the catalogue (a word found in
# most documents holds ~8-12 bytes per document), so a fixed 64 MiB that held 36 such words at 200,000 records
# held 7 at 1,000,000: fewer than the 8 words a client searched in turn, and every search fetched its word's
# scores again from the database (~1 s each; issue 17). The budget now grows with the catalogue: room for about
# a dozen words found in every document, whatever its size (128 MiB per web worker at 1,000,000 records).
CACHE_MIN_BYTES = 64 * 1024 * 1024
CACHE_BYTES_PER_DOC = 128


class _Cache:
    """A least-recently-used cache bounded by the bytes of the numpy arrays it holds, which does not thrash.

    A plain LRU cache asked in turn for one entry more than it holds misses every time (each new entry evicts
    the one asked for next). So a new entry evicts others only if it has been asked for more often than each
    of them (hits and misses counted, halved from time to time so that old popularity fades); otherwise it is
    returned without being kept, and the entries held go on being hit."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self.items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self.lock = threading.Lock()
        self.asked: dict[Hashable, int] = {}
        self._asks = 0

    def _ask(self, key: Hashable) -> int:
        """Count one request for ``key`` (under the lock); returns its count."""
        self.asked[key] = self.asked.get(key, 0) + 1
        self._asks += 1
        if self._asks >= 1000:  # age the counts: halve them, forget the keys that fall to 0
            self.asked = {k: n // 2 for k, n in self.asked.items() if n > 1}
            self._asks = 0
        return self.asked.get(key, 0)

    def _admit(self, key: Hashable, size: int) -> bool:
        """Whether ``key`` may go in, evicting least recently used entries asked for less often (under the lock)."""
        if self.used + size <= self.budget:
            return True
        wanted = self.asked.get(key, 0)
        freed, victims = 0, []
        for old, (_, old_size) in self.items.items():
            if self.used - freed + size <= self.budget:
                break
            if self.asked.get(old, 0) >= wanted:
                return False
            victims.append(old)
            freed += old_size
        for old in victims:
            self.used -= self.items.pop(old)[1]
        return True

    def peek(self, key: Hashable) -> Any:
        """The value held under ``key``, or None."""
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key][0]
        return None

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        with self.lock:
            self._ask(key)
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key][0]
        value = make()
        size = sum(a.nbytes for a in (value if isinstance(value, tuple) else (value,)) if hasattr(a, "nbytes"))
        with self.lock:
            if key not in self.items and self._admit(key, size):
                self.items[key] = (value, size)
                self.used += size
        return value


class Evaluator:
    """Evaluates a query AST over a snapshot with SQL's three-valued logic: each node gives (true, false)
    masks; a document in neither is NULL (unknown) and, as in SQL, is not selected, even under NOT."""

    def __init__(
        self,
        snap: Snapshot,
        s: Session,
        backend: Any,
        facet_values: Callable[[str, str, list[str]], list[str]],
        scored: Mapping[Hashable, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> None:
        """``scored``: the scores this search fetched already, by score key (the cache may not have kept them)."""
        self.snap = snap
        self.s = s
        self.backend = backend
        self.facet_values = facet_values
        self.scored = scored or {}

    def selected(self, node: Node) -> Mask:
        return self.tri(node)[0]

    def tri(self, node: Node) -> tuple[Mask, Mask]:
        snap = self.snap
        if isinstance(node, Text):
            key = self.backend.match_key(node)
            if key is None:
                return np.ones(snap.n, dtype=bool), np.zeros(snap.n, dtype=bool)
            # A ranked search fetched the node's scores first: their documents are its match set.
            score_key = self.backend.score_key(node)
            scored = None
            if score_key is not None:
                scored = self.scored.get(score_key) or snap.cache.peek(("score", score_key))
            if scored is not None:
                positions = scored[0]
            else:
                positions = snap.cache.get(("match", key), lambda: snap.positions(self.backend.match_ids(self.s, node)))
            t = snap.mask(positions)
            return t, ~t
        if isinstance(node, And):
            t, f = self.tri(node.nodes[0])
            for child in node.nodes[1:]:
                ct, cf = self.tri(child)
                t, f = t & ct, f | cf
            return t, f
        if isinstance(node, Or):
            t, f = self.tri(node.nodes[0])
            for child in node.nodes[1:]:
                ct, cf = self.tri(child)
                t, f = t | ct, f & cf
            return t, f
        if isinstance(node, Not):
            t, f = self.tri(node.node)
            return f, t
        if isinstance(node, Exact):
            return self.exact(node)
        if isinstance(node, Range):
            return self.range(node)
        raise Invalid(N_("unsupported query"), field="q")

    def exact(self, node: Exact) -> tuple[Mask, Mask]:
        snap = self.snap
        if node.field == "doi":
            from portal.pids.base import normalise_doi

            t = snap.mask(np.array(snap.dois.get(normalise_doi(node.value), []), dtype=np.int64))
            return t, snap.has_doi & ~t
        if node.field == "recid":
            if not node.value.isdigit():
                raise Invalid(N_("recid must be a number, got {node_value!r}"), node_value=node.value, field="q")
            wanted = int(node.value)
            t = (snap.recids == wanted) | (snap.concepts == wanted)
            return t, ~t
        column = snap.facets.get(node.field)
        if column is None:  # not a facet of the snapshot: no document has it
            return np.zeros(snap.n, dtype=bool), np.ones(snap.n, dtype=bool)
        values = snap.cache.get(
            ("values", node.field, node.value), lambda: self.facet_values(node.field, node.value, column.values)
        )
        t = column.holders([column.index[v] for v in values], snap.n)
        return t, ~t

    def range(self, node: Range) -> tuple[Mask, Mask]:
        snap = self.snap
        known: Mask
        if node.field == "recid":
            column: np.ndarray = snap.recids
            known = np.ones(snap.n, dtype=bool)
        elif node.field == "number_events":
            column, known = snap.events, snap.events_known
        else:
            column = snap.year
            known = ~np.isnan(snap.year)
        inside = np.ones(snap.n, dtype=bool)
        with np.errstate(invalid="ignore"):
            if node.low is not None:
                inside &= column >= node.low if node.include_low else column > node.low
            if node.high is not None:
                inside &= column <= node.high if node.include_high else column < node.high
        t, f = inside & known, ~inside & known
        if node.field == "year":  # any data-taking year in range counts, not only the first
            years = snap.facets["year"]
            wanted = [
                i
                for y, i in snap.years_by_value.items()
                if (node.low is None or (y >= node.low if node.include_low else y > node.low))
                and (node.high is None or (y <= node.high if node.include_high else y < node.high))
            ]
            any_year = years.holders(wanted, snap.n)
            t, f = t | any_year, f & ~any_year
        return t, f


def facet_counts(column: FacetColumn, mask: Mask, *, db_order: bool) -> list[FacetBucket]:
    """The 30 most frequent values among ``mask`` (ties by value: Python's order, or the database's)."""
    counts = column.counts(mask)
    present = np.flatnonzero(counts)
    if db_order:
        order = np.lexsort((column.db_rank[present], -counts[present]))
    else:  # values are held sorted by Python's string order
        order = np.lexsort((present, -counts[present]))
    top = present[order[:30]]
    return [FacetBucket(column.values[v], int(counts[v])) for v in top]


def top_by_order(order: np.ndarray, mask: Mask, start: int, count: int) -> np.ndarray:
    """Positions of the selected documents number ``start`` .. ``start + count - 1`` along ``order``.

    Read in growing slices from the front, so an early page costs its slices, not a pass over the whole
    order (1,000,000 positions); a deep page, or a selection too sparse to fill it early, reads it all."""
    need = start + count
    step = max(4 * need, 4096)
    found: list[np.ndarray] = []
    got = i = 0
    while i < len(order):
        part = order[i : i + step]
        hits = part[mask[part]]
        found.append(hits)
        got += len(hits)
        i += step
        if got >= need:
            break
        step *= 4
    hits = np.concatenate(found) if found else order[:0]
    return hits[start : start + count]


class Summaries:
    """The totals and facet counts of the selections searched in one snapshot, least recently used first
    out. They depend only on the selection (query, filters, versions, hidden records), not on the page
    or sort, and the snapshot never changes: a listing without a query (every catalogue page, the API's
    default) counts its facets over the whole catalogue once per index generation, not per request."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.items: OrderedDict[Hashable, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = make()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


def top_by_score(score: np.ndarray, mask: Mask, start: int, count: int) -> np.ndarray:
    """Selected positions ordered by score (high first), then position (= recid) ascending."""
    selected = np.flatnonzero(mask)
    need = start + count
    if len(selected) > need > 0:
        neg = -score[selected]
        kth = np.partition(neg, need - 1)[need - 1]
        selected = selected[neg <= kth]
    order = np.lexsort((selected, -score[selected]))
    return selected[order][start : start + count]


def combine_filters(filters: Mapping[str, Mask], n: int, skip: str | None = None) -> Mask:
    out = np.ones(n, dtype=bool)
    for name, mask in filters.items():
        if name != skip:
            out &= mask
    return out


__all__ = [
    "Evaluator",
    "Snapshot",
    "Summaries",
    "combine_filters",
    "facet_counts",
    "parse_ids",
    "top_by_order",
    "top_by_score",
]
