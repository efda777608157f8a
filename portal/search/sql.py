"""The search as SQL over the index tables: the reference formulation of every search, and the one the popularity
sorts use. Answers are the same as those of the in-memory snapshot (:mod:`portal.search.memory`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, func, not_, or_, select, true
from sqlalchemy.orm import Session

from portal.db.engine import Database
from portal.errors import Invalid
from portal.i18n import N_
from portal.pids.base import normalise_doi
from portal.search.backends.base import TextBackend
from portal.search.cursor import decode_cursor, encode_cursor
from portal.search.documents import FACETS
from portal.search.models import DOCS, FACET_ROWS
from portal.search.query import And, Exact, Node, Not, Or, Range, Text, positive_texts
from portal.search.results import COUNTED_SORTS, FacetBucket, SearchRequest, SearchResult

# The popularity of every concept for one kind of use ("view", "download") or its citations ("cite"): a subquery
# with the columns ``recid`` (a concept recid) and ``n`` (its unique visitors, summed over all hours, or its
# citations), concepts never used (or cited) left out.
Popularity = Callable[[str], sa.Subquery]


def facet_values(s: Session, facet: str, value: str, values: list[str]) -> list[str]:
    """Which of a facet's ``values`` the query term ``facet:value`` selects, decided by the database (its
    lower() and LIKE), exactly as :meth:`SQLSearch._exact` does on the facet rows."""
    out: list[str] = []
    for i in range(0, len(values), 500):
        chunk = values[i : i + 500]
        tests = []
        for v in chunk:
            candidate = sa.literal(v, sa.String)
            match = func.lower(candidate) == value.lower()
            if facet == "subtype" and "/" not in value:
                match = or_(match, func.lower(candidate).like("%/" + value.lower()))
            tests.append(sa.case((match, 1), else_=0))
        row = s.execute(select(*tests)).one()
        out += [v for v, hit in zip(chunk, row, strict=True) if hit]
    return out


class SQLSearch:
    """Searches answered by the database alone: conditions compiled from the query AST, the text backend's
    match and rank, facet counts with post-filter semantics, sorting and search-after pagination."""

    def __init__(self, db: Database, backend: TextBackend, popularity: Popularity) -> None:
        self.db = db
        self.backend = backend
        self.popularity = popularity

    def search(self, req: SearchRequest, ast: Node | None, sort: str) -> SearchResult:
        """The search as SQL over the index tables (the reference formulation)."""
        base = self._condition(ast) if ast is not None else true()
        if not req.all_versions:
            base = and_(base, DOCS.c.is_latest == true())
        if req.hidden:
            base = and_(base, DOCS.c.recid.not_in(sorted(req.hidden)))
        filters = {f: self._facet_condition(f, values) for f, values in req.filters.items() if values}
        where = and_(base, *filters.values())
        with self.db.reader() as s:
            total = s.scalar(select(func.count()).select_from(DOCS).where(where)) or 0
            query, keys = self._sorted(ast, sort)
            query = query.where(where)
            if req.cursor:
                query = query.where(self._after(keys, decode_cursor(req.cursor, len(keys))))
            elif req.page > 1:
                query = query.offset((req.page - 1) * req.size)
            rows = s.execute(query.limit(req.size + 1)).all()
            more = len(rows) > req.size
            rows = rows[: req.size]
            aggregations = self._aggregations(s, base, filters)
        next_cursor = encode_cursor([_plain(v) for v in rows[-1][1:]]) if more and rows else None
        return SearchResult(
            total=total, recids=[r[0] for r in rows], aggregations=aggregations, next_cursor=next_cursor, sort=sort
        )

    # ----------------------------------------------------------------- helpers
    def _condition(self, node: Node) -> sa.ColumnElement[bool]:
        if isinstance(node, Text):
            return self.backend.condition(node)
        if isinstance(node, And):
            return and_(*[self._condition(n) for n in node.nodes])
        if isinstance(node, Or):
            return or_(*[self._condition(n) for n in node.nodes])
        if isinstance(node, Not):
            return not_(self._condition(node.node))
        if isinstance(node, Exact):
            return self._exact(node)
        if isinstance(node, Range):
            column = {"year": DOCS.c.year, "number_events": DOCS.c.number_events, "recid": DOCS.c.recid}[node.field]
            parts = []
            if node.low is not None:
                parts.append(column >= node.low if node.include_low else column > node.low)
            if node.high is not None:
                parts.append(column <= node.high if node.include_high else column < node.high)
            if node.field == "year":  # any data-taking year in range counts, not only the first
                years = select(FACET_ROWS.c.recid).where(FACET_ROWS.c.facet == "year")
                lo, hi = node.low, node.high
                value = sa.cast(FACET_ROWS.c.value, sa.Integer)
                if lo is not None:
                    years = years.where(value >= lo if node.include_low else value > lo)
                if hi is not None:
                    years = years.where(value <= hi if node.include_high else value < hi)
                return or_(and_(*parts), DOCS.c.recid.in_(years))
            return and_(*parts)
        raise Invalid(N_("unsupported query"), field="q")

    def _exact(self, node: Exact) -> sa.ColumnElement[bool]:
        value = node.value
        if node.field == "doi":
            return DOCS.c.doi == normalise_doi(value)
        if node.field == "recid":
            if not value.isdigit():
                raise Invalid(N_("recid must be a number, got {value!r}"), value=value, field="q")
            return or_(DOCS.c.recid == int(value), DOCS.c.concept_recid == int(value))
        facet = {"format": "format", "subtype": "subtype"}.get(node.field, node.field)
        match = func.lower(FACET_ROWS.c.value) == value.lower()
        if facet == "subtype" and "/" not in value:
            match = or_(match, func.lower(FACET_ROWS.c.value).like("%/" + value.lower()))
        return DOCS.c.recid.in_(select(FACET_ROWS.c.recid).where(FACET_ROWS.c.facet == facet, match))

    def _facet_condition(self, facet: str, values: Sequence[str]) -> sa.ColumnElement[bool]:
        return DOCS.c.recid.in_(
            select(FACET_ROWS.c.recid).where(FACET_ROWS.c.facet == facet, FACET_ROWS.c.value.in_(list(values)))
        )

    def _aggregations(
        self, s: Session, base: sa.ColumnElement[bool], filters: Mapping[str, sa.ColumnElement[bool]]
    ) -> dict[str, list[FacetBucket]]:
        """Counts per facet value. A facet's own selection does not narrow its counts (post-filter), so
        the facets without a selection share one grouped query and each selected facet gets its own."""
        out: dict[str, list[FacetBucket]] = {}
        unselected = [f for f in FACETS if f not in filters]
        if unselected:
            where = and_(base, *filters.values())
            count = func.count().label("n")
            rows = s.execute(
                select(FACET_ROWS.c.facet, FACET_ROWS.c.value, count)
                .select_from(FACET_ROWS.join(DOCS, DOCS.c.recid == FACET_ROWS.c.recid))
                .where(where, FACET_ROWS.c.facet.in_(unselected))
                .group_by(FACET_ROWS.c.facet, FACET_ROWS.c.value)
            ).all()
            grouped: dict[str, list[tuple[str, int]]] = {f: [] for f in unselected}
            for facet, value, n in rows:
                grouped[facet].append((value, n))
            for facet, pairs in grouped.items():
                pairs.sort(key=lambda p: (-p[1], p[0]))
                out[facet] = [FacetBucket(v, n) for v, n in pairs[:30]]
        for facet in filters:
            out[facet] = self._facet_counts(s, facet, and_(base, *[c for g, c in filters.items() if g != facet]))
        return {f: out[f] for f in FACETS}

    def _facet_counts(self, s: Session, facet: str, where: sa.ColumnElement[bool]) -> list[FacetBucket]:
        matching = select(DOCS.c.recid).where(where)
        count = func.count().label("n")
        rows = s.execute(
            select(FACET_ROWS.c.value, count)
            .where(FACET_ROWS.c.facet == facet, FACET_ROWS.c.recid.in_(matching))
            .group_by(FACET_ROWS.c.value)
            .order_by(count.desc(), FACET_ROWS.c.value)
            .limit(30)
        ).all()
        return [FacetBucket(v, n) for v, n in rows]

    def _sorted(self, ast: Node | None, sort: str) -> tuple[Any, list[tuple[sa.ColumnElement[Any], bool]]]:
        """The base SELECT (recid + sort keys) and its keys as (column, descending)."""
        if sort == "bestmatch":
            texts = positive_texts(ast) if ast is not None else []
            ranked = self.backend.ranked(texts)
            if ranked is None:
                return self._sorted(ast, "mostrecent")
            score = func.coalesce(ranked.c.score, 0.0)
            query = select(DOCS.c.recid, score.label("k1"), DOCS.c.recid.label("k2")).select_from(
                DOCS.outerjoin(ranked, ranked.c.recid == DOCS.c.recid)
            )
            return query.order_by(score.desc(), DOCS.c.recid), [(score, True), (DOCS.c.recid, False)]
        if sort == "mostrecent":
            return (
                select(DOCS.c.recid, DOCS.c.date_published, DOCS.c.recid.label("k2")).order_by(
                    DOCS.c.date_published.desc(), DOCS.c.recid.desc()
                ),
                [(DOCS.c.date_published, True), (DOCS.c.recid, True)],
            )
        if sort in ("title", "-title"):
            desc = sort == "-title"
            order = (DOCS.c.title_sort.desc(), DOCS.c.recid.desc()) if desc else (DOCS.c.title_sort, DOCS.c.recid)
            return (
                select(DOCS.c.recid, DOCS.c.title_sort, DOCS.c.recid.label("k2")).order_by(*order),
                [(DOCS.c.title_sort, desc), (DOCS.c.recid, desc)],
            )
        popularity = self.popularity(COUNTED_SORTS[sort])
        score = func.coalesce(popularity.c.n, 0)
        query = select(DOCS.c.recid, score.label("k1"), DOCS.c.recid.label("k2")).select_from(
            DOCS.outerjoin(popularity, popularity.c.recid == DOCS.c.concept_recid)
        )
        return query.order_by(score.desc(), DOCS.c.recid), [(score, True), (DOCS.c.recid, False)]

    @staticmethod
    def _after(keys: list[tuple[sa.ColumnElement[Any], bool]], values: list[Any]) -> sa.ColumnElement[bool]:
        """Rows strictly after ``values`` in the (k1, k2) ordering: the search-after condition."""
        (c1, d1), (c2, d2) = keys
        v1, v2 = values
        # An edited cursor may hold a string where the sort key is a number (or the reverse): PostgreSQL refuses
        # to compare them (a 500), SQLite compares them by type class (a silently wrong page).
        for column, value in ((c1, v1), (c2, v2)):
            if not _fits(column, value):
                raise Invalid(N_("cursor is not one this search returned; start again without it"), field="cursor")
        beyond1 = c1 < v1 if d1 else c1 > v1
        beyond2 = c2 < v2 if d2 else c2 > v2
        return or_(beyond1, and_(c1 == v1, beyond2))


def _fits(column: sa.ColumnElement[Any], value: Any) -> bool:
    """Whether ``value`` is of the kind ``column`` holds (text for text, a number for numbers)."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:  # an expression of no declared type: the driver decides
        return True
    if python_type is str:
        return isinstance(value, str)
    if python_type in (int, float) or issubclass(python_type, int | float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def _plain(value: Any) -> Any:
    # PostgreSQL's sum of counts (the `mostcited` key) is a numeric: a Decimal, which JSON cannot hold (every
    # page of that sort with a next page failed there with a 500); it is an integer.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return float(value) if isinstance(value, float) else value
