"""Search over the index: the query AST compiled to SQL, ranked full text per backend, facets with
post-filter counts, sorting and cursor (search-after) pagination with no result-window limit."""

from __future__ import annotations

import base64
import json
import logging
import re
import struct
import threading
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import numpy as np
import sqlalchemy as sa
from sqlalchemy import and_, delete, func, insert, not_, or_, select, true, update
from sqlalchemy.orm import Session

from portal.db.engine import Database
from portal.db.models import File, Record
from portal.errors import Invalid
from portal.search import memory
from portal.search.documents import FACETS, SearchDocument, build_document
from portal.search.query import And, Exact, Node, Not, Or, Range, Text, parse

_meta = sa.MetaData()
DOCS = sa.Table(
    "search_documents",
    _meta,
    sa.Column("recid", sa.Integer, primary_key=True),
    sa.Column("concept_recid", sa.Integer),
    sa.Column("is_latest", sa.Boolean),
    sa.Column("title", sa.Text),
    sa.Column("title_sort", sa.Text),
    sa.Column("doi", sa.String),
    sa.Column("date_published", sa.String),
    sa.Column("year", sa.Integer),
    sa.Column("number_events", sa.BigInteger),
)
FACET_ROWS = sa.Table(
    "search_facets", _meta, sa.Column("recid", sa.Integer), sa.Column("facet", sa.String), sa.Column("value", sa.String)
)
STATE = sa.Table(
    "search_state", _meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("generation", sa.BigInteger)
)
STATS = sa.Table(
    "stats_aggregates",
    _meta,
    sa.Column("scope", sa.String),
    sa.Column("recid", sa.Integer),
    sa.Column("kind", sa.String),
    sa.Column("unique_visitors", sa.Integer),
)

log = logging.getLogger(__name__)
SORTS = ("bestmatch", "mostrecent", "title", "-title", "mostviewed", "mostdownloaded")
_WORD = re.compile(r"\w+", re.UNICODE)


class TextBackend(Protocol):
    """The dialect-specific part: storing text and matching/ranking it."""

    name: str

    def insert(self, s: Session, docs: Sequence[SearchDocument], rows: list[dict[str, Any]]) -> None:
        """Add documents: ``rows`` are their search_documents rows (same order), the backend adds the text."""
        ...

    def remove(self, s: Session, recid: int) -> None: ...

    def clear(self, s: Session) -> None:
        """Remove the text of every document (before a rebuild)."""
        ...

    def optimise(self, s: Session) -> None:
        """Called after a bulk load (merge index segments, refresh planner statistics)."""
        ...

    def condition(self, node: Text) -> sa.ColumnElement[bool]: ...

    def ranked(self, nodes: Sequence[Text]) -> sa.Subquery | None:
        """(recid, score) of documents matching any of ``nodes``, higher score = better."""
        ...

    def match_key(self, node: Text) -> Hashable | None:
        """A cache key for the documents matching ``node`` (None: it has no words and matches everything)."""
        ...

    def match_ids(self, s: Session, node: Text) -> np.ndarray:
        """The recids of the documents matching ``node`` (those :meth:`condition` selects)."""
        ...

    def rank_keys(self, nodes: Sequence[Text]) -> list[Hashable] | None:
        """Parts whose :meth:`scores`, added in this order, give exactly the scores of :meth:`ranked`."""
        ...

    def scores(self, s: Session, key: Hashable) -> tuple[np.ndarray, np.ndarray]:
        """(recids, scores) of one part named by :meth:`rank_keys`: every document the part matches."""
        ...

    def score_key(self, node: Text) -> Hashable | None:
        """A key of :meth:`scores` whose documents are exactly those ``node`` matches (None: there is none),
        so that a ranked search learns the match set from the scores it fetches anyway."""
        ...

    def frequent_keys(self, s: Session, min_docs: int, limit: int) -> list[Hashable]:
        """Score keys of the single words found in at least ``min_docs`` documents (most frequent first, at
        most ``limit``): the words whose scores are the most expensive to fetch, worth fetching in advance."""
        ...

    def id_list(self, column: Any) -> Any:
        """The aggregate that gives a group's integer ``column`` values comma-separated."""
        ...


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


# A lexeme as PostgreSQL prints it in a tsquery: quoted, with ' and \ doubled.
_LEXEME = r"'((?:[^'\\]|''|\\\\)*)'"
_CHAIN = re.compile(rf"{_LEXEME}(?: <-> {_LEXEME})*")


def phrase_chain(tsquery: str) -> list[str] | None:
    """The lexemes, in order, of a tsquery printed as ``'a' <-> 'b' <-> ...``; None for any other form."""
    if not _CHAIN.fullmatch(tsquery):
        return None
    return [re.sub(r"''|\\\\", lambda m: m.group()[0], inner) for inner in re.findall(_LEXEME, tsquery)]


def binary_array(data: bytes | None, element: str) -> np.ndarray:
    """The elements of a one-dimensional PostgreSQL array without NULLs, from its binary form (array_send), as
    numpy ``element`` type (big-endian, e.g. ">i4" for integer, ">f4" for real); None (no rows) is empty."""
    if data is None:
        return np.zeros(0, dtype=element)
    ndim, has_nulls = struct.unpack_from(">ii", data)
    if ndim == 0:
        return np.zeros(0, dtype=element)
    if ndim != 1 or has_nulls:
        raise ValueError("expected a one-dimensional array without NULLs")
    # header: ndim, NULL flag, element type, then (length, lower bound); each element: its byte length, its bytes
    (count,) = struct.unpack_from(">i", data, 12)
    items = np.frombuffer(data, dtype=np.dtype([("size", ">i4"), ("value", element)]), count=count, offset=20)
    if not np.all(items["size"] == np.dtype(element).itemsize):
        raise ValueError(f"the array's elements are not of type {element}")
    return items["value"]


def _raw(s: Session) -> Any:
    """The DBAPI connection under a session (for results too large to build SQLAlchemy rows for)."""
    return s.connection().connection.driver_connection


class SQLiteFTS:
    """SQLite FTS5 with BM25; the title column weighs 10x the body."""

    name = "sqlite"
    COLUMNS = {"title": "title", "author": "authors", "keywords": "keywords"}

    def insert(self, s: Session, docs: Sequence[SearchDocument], rows: list[dict[str, Any]]) -> None:
        s.execute(insert(DOCS), rows)
        s.execute(
            sa.text("INSERT INTO search_fts(rowid, title, authors, keywords, body) VALUES (:r, :t, :a, :k, :b)"),
            [{"r": d.recid, "t": d.title, "a": d.authors, "k": d.keywords, "b": d.body} for d in docs],
        )

    def remove(self, s: Session, recid: int) -> None:
        s.execute(sa.text("DELETE FROM search_fts WHERE rowid = :r"), {"r": recid})

    def clear(self, s: Session) -> None:
        s.execute(sa.text("DELETE FROM search_fts"))

    def optimise(self, s: Session) -> None:
        # Merge the b-trees a bulk load leaves behind into one: fewer segments to read per query.
        s.execute(sa.text("INSERT INTO search_fts(search_fts) VALUES ('optimize')"))

    def _expr(self, node: Text) -> str | None:
        words = _words(node.value)
        if not words:
            return None
        quoted = '"' + " ".join(words) + '"' if node.phrase else " AND ".join(f'"{w}"' for w in words)
        column = self.COLUMNS.get(node.field or "")
        return f"{column} : ({quoted})" if column else f"({quoted})"

    def condition(self, node: Text) -> sa.ColumnElement[bool]:
        expr = self._expr(node)
        if expr is None:
            return true()
        sub = (
            sa.text("SELECT rowid FROM search_fts WHERE search_fts MATCH :m")
            .bindparams(sa.bindparam("m", expr, unique=True))
            .columns(rowid=sa.Integer)
        )
        return DOCS.c.recid.in_(select(sub.subquery().c.rowid))

    def ranked(self, nodes: Sequence[Text]) -> sa.Subquery | None:
        exprs = [e for e in (self._expr(n) for n in nodes) if e]
        if not exprs:
            return None
        # bm25() is smaller for better matches; negate it so that higher is better everywhere.
        return (
            sa.text(
                "SELECT rowid AS recid, -bm25(search_fts, 10.0, 2.0, 2.0, 1.0) AS score FROM search_fts "
                "WHERE search_fts MATCH :rank"
            )
            .bindparams(rank=" OR ".join(exprs))
            .columns(recid=sa.Integer, score=sa.Float)
            .subquery("ranked")
        )

    def match_key(self, node: Text) -> Hashable | None:
        return self._expr(node)

    def match_ids(self, s: Session, node: Text) -> np.ndarray:
        query = sa.text("SELECT group_concat(rowid) FROM search_fts WHERE search_fts MATCH :m")
        return memory.parse_ids(s.scalar(query, {"m": self._expr(node)}))

    def rank_keys(self, nodes: Sequence[Text]) -> list[Hashable] | None:
        usable = [(n, e) for n, e in ((n, self._expr(n)) for n in nodes) if e]
        if not usable:
            return None
        # FTS5's bm25 sums one term per phrase, in the order of the phrases, and a phrase's term depends only
        # on that phrase (its idf and its hits in the row): for an OR of single phrases (a word or a "phrase")
        # the score of the whole is the sum of the scores of each phrase queried alone, bit for bit.
        # An AND inside (several words in one value) is not split: it is scored as a whole.
        if all(n.phrase or len(_words(n.value)) == 1 for n, _ in usable):
            return [(e,) for _, e in usable]
        return [tuple(e for _, e in usable)]

    # The scores come grouped by value: one row per distinct score with its rowids comma-separated. A word's
    # BM25 score depends only on its weighted hit count and the row's length, so there are few distinct
    # values; the values arrive as exact doubles (SQLite's text form of a double is not exact) and the rows
    # never pass one by one through Python (~1 µs each: 80 ms for a common word in 100,000 documents).
    SCORES = (
        "WITH ranked AS MATERIALIZED (SELECT rowid AS id, -bm25(search_fts, 10.0, 2.0, 2.0, 1.0) AS score "
        "FROM search_fts WHERE search_fts MATCH ?) SELECT score, group_concat(id) FROM ranked GROUP BY score"
    )

    def scores(self, s: Session, key: Hashable) -> tuple[np.ndarray, np.ndarray]:
        assert isinstance(key, tuple)
        groups = _raw(s).execute(self.SCORES, (" OR ".join(key),)).fetchall()
        ids = [memory.parse_ids(text) for _, text in groups]
        return (
            np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64),
            np.repeat(np.array([score for score, _ in groups], dtype=np.float64), [len(i) for i in ids]),
        )

    def score_key(self, node: Text) -> Hashable | None:
        expr = self._expr(node)
        return (expr,) if expr else None

    def frequent_keys(self, s: Session, min_docs: int, limit: int) -> list[Hashable]:
        raw = _raw(s)
        raw.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_fts_terms USING fts5vocab(main, search_fts, row)")
        terms = raw.execute(
            "SELECT term FROM temp.search_fts_terms WHERE doc >= ? ORDER BY doc DESC, term LIMIT ?", (min_docs, limit)
        ).fetchall()
        return [key for (term,) in terms if (key := self.score_key(Text(term))) is not None]

    def id_list(self, column: Any) -> Any:
        return func.group_concat(column)


class PostgresFTS:
    """PostgreSQL full text: a tsvector weighted title A, authors B, keywords C, body D.

    The score of a query is the sum over its words and phrases of ``ts_rank`` of each alone (0 where it does
    not match), like BM25 sums per term: a title hit weighs 10x a body hit, a document matching more of the
    words ranks higher, and each word's scores can be fetched once and reused by every query holding it
    (``ts_rank_cd`` of a whole query is neither additive nor cheap: ~700 ms over 95,000 matches).
    PostgreSQL parses the query text itself (plainto_/phraseto_tsquery), so query and document are
    tokenised by the same parser.
    """

    name = "postgres"
    COLUMNS = {"title": "title", "author": "authors", "keywords": "keywords"}
    CONFIG = "'simple'::regconfig"

    # The vectors are computed once, when the document is written: the weighted whole-document vector for
    # plain words and one vector per searchable field (title:, author:, keywords:), each with a GIN index.
    INSERT = sa.text(
        "INSERT INTO search_documents (recid, concept_recid, is_latest, title, title_sort, doi, date_published, "
        "year, number_events, tsv, tsv_title, tsv_authors, tsv_keywords, fields) VALUES (:recid, :concept_recid, "
        ":is_latest, :title, :title_sort, :doi, :date_published, :year, :number_events, "
        "setweight(to_tsvector('simple', :title), 'A') || setweight(to_tsvector('simple', :a), 'B') || "
        "setweight(to_tsvector('simple', :k), 'C') || setweight(to_tsvector('simple', :b), 'D'), "
        "to_tsvector('simple', :title), to_tsvector('simple', :a), to_tsvector('simple', :k), "
        "jsonb_build_object('authors', :a, 'keywords', :k))"
    )

    def insert(self, s: Session, docs: Sequence[SearchDocument], rows: list[dict[str, Any]]) -> None:
        s.execute(
            self.INSERT,
            [{**row, "a": d.authors, "k": d.keywords, "b": d.body} for d, row in zip(docs, rows, strict=True)],
        )
        # The same vectors in the narrow table that the per-word scores are read from (migration 0013b).
        s.execute(
            sa.text(
                "INSERT INTO search_text (recid, tsv) SELECT recid, tsv FROM search_documents WHERE recid = ANY(:ids)"
            ),
            {"ids": [d.recid for d in docs]},
        )

    def remove(self, s: Session, recid: int) -> None:
        s.execute(sa.text("DELETE FROM search_text WHERE recid = :r"), {"r": recid})

    def clear(self, s: Session) -> None:
        s.execute(sa.text("DELETE FROM search_text"))

    def optimise(self, s: Session) -> None:
        s.execute(sa.text("ANALYZE search_documents"))
        s.execute(sa.text("ANALYZE search_text"))
        s.execute(sa.text("ANALYZE search_facets"))

    def _tsquery(self, node: Text) -> sa.ColumnElement[Any]:
        maker = func.phraseto_tsquery if node.phrase else func.plainto_tsquery
        return maker(sa.literal_column(self.CONFIG), sa.bindparam(None, node.value))

    def _vector(self, node: Text) -> sa.ColumnElement[Any]:
        column = {"title": "tsv_title", "author": "tsv_authors", "keywords": "tsv_keywords"}.get(
            node.field or "", "tsv"
        )
        return sa.literal_column(f"search_documents.{column}")

    def condition(self, node: Text) -> sa.ColumnElement[bool]:
        if not _words(node.value):
            return true()
        return self._vector(node).bool_op("@@")(self._tsquery(node))

    @staticmethod
    def _part(node: Text) -> tuple[bool, str]:
        """What a node's score depends on: phrase or not, and its text (ASCII text lower-cased: the same query)."""
        return node.phrase, node.value.lower() if node.value.isascii() else node.value

    def ranked(self, nodes: Sequence[Text]) -> sa.Subquery | None:
        parts = [self._part(n) for n in nodes if _words(n.value)]
        if not parts:
            return None
        tsv: sa.ColumnElement[Any] = sa.literal_column("search_documents.tsv")
        queries = [self._tsquery(Text(value, phrase)) for phrase, value in parts]
        # ts_rank is a real; the scores are added as doubles, in the order of the words (as the snapshot does).
        terms = [sa.case((tsv.bool_op("@@")(q), sa.cast(func.ts_rank(tsv, q), sa.Double)), else_=0.0) for q in queries]
        score: sa.ColumnElement[Any] = terms[0]
        for term in terms[1:]:
            score = score + term
        return (
            select(DOCS.c.recid.label("recid"), score.label("score"))
            .select_from(DOCS)
            .where(or_(*[tsv.bool_op("@@")(q) for q in queries]))
            .subquery("ranked")
        )

    def match_key(self, node: Text) -> Hashable | None:
        return (node.field, node.phrase, node.value) if _words(node.value) else None

    def match_ids(self, s: Session, node: Text) -> np.ndarray:
        if node.field is None and _words(node.value):  # the narrow table holds the same vectors
            where, params = self._matching(s, node.phrase, node.value)
            ids = s.scalar(sa.text(f"SELECT array_send(array_agg(recid)) FROM search_text, {where}"), params)
            return binary_array(ids, ">i4").astype(np.int64)
        return memory.parse_ids(s.scalar(select(self.id_list(DOCS.c.recid)).where(self.condition(node))))

    def _matching(self, s: Session, phrase: bool, value: str) -> tuple[str, dict[str, Any]]:
        """The FROM item ``q`` (the query of ``value``) and the WHERE clause selecting the rows of search_text
        that match it, with their parameters. A phrase of two or more words is looked up by its word pairs
        (migration 0013c) and checked only on the rows holding them all."""
        if not phrase:
            return "plainto_tsquery('simple', :v) AS q WHERE tsv @@ q", {"v": value}
        pairs = self._pair_hashes(s, value)
        if pairs is None:
            return "phraseto_tsquery('simple', :v) AS q WHERE tsv @@ q", {"v": value}
        # ts_match_vq is the @@ operator by its function name: the planner then cannot also scan the vector index
        # for the phrase's words (tens of thousands of rows for common words) only to intersect it with the pairs.
        return (
            "phraseto_tsquery('simple', :v) AS q WHERE pairs @> CAST(:pairs AS integer[]) AND ts_match_vq(tsv, q)",
            {"v": value, "pairs": pairs},
        )

    def _pair_hashes(self, s: Session, value: str) -> list[int] | None:
        """The hashed word pairs that every document matching the phrase ``value`` holds (see search_pairs in
        migration 0013c); None when its query is not a plain chain ``'a' <-> 'b' ...`` of two or more words."""
        lexemes = phrase_chain(s.scalar(sa.text("SELECT phraseto_tsquery('simple', :v)::text"), {"v": value}) or "")
        if lexemes is None or len(lexemes) < 2:
            return None
        return list(
            s.scalars(
                sa.text(
                    "SELECT DISTINCT search_pair_hash(a, b) FROM unnest(CAST(:a AS text[]), "
                    "CAST(:b AS text[])) AS p(a, b)"
                ),
                {"a": lexemes[:-1], "b": lexemes[1:]},
            )
        )

    def rank_keys(self, nodes: Sequence[Text]) -> list[Hashable] | None:
        parts: list[Hashable] = [self._part(n) for n in nodes if _words(n.value)]
        return parts or None

    # Ids and scores as two arrays in PostgreSQL's binary form, in one row (the same row order for both
    # aggregates): the rows never pass one by one through Python, and no number is printed or parsed as text
    # (a third of the time of a word in 75,000 documents). ts_rank is a real: widened to a double exactly.
    SCORES = "SELECT array_send(array_agg(recid)), array_send(array_agg(ts_rank(tsv, q))) FROM search_text, "

    def scores(self, s: Session, key: Hashable) -> tuple[np.ndarray, np.ndarray]:
        assert isinstance(key, tuple)
        phrase, value = key
        where, params = self._matching(s, phrase, value)
        ids, values = s.execute(sa.text(self.SCORES + where), params).one()
        return binary_array(ids, ">i4").astype(np.int64), binary_array(values, ">f4").astype(np.float64)

    def score_key(self, node: Text) -> Hashable | None:
        # Scores are of the whole-document vector: they give the match set of nodes without a field only.
        return self._part(node) if node.field is None and _words(node.value) else None

    def frequent_keys(self, s: Session, min_docs: int, limit: int) -> list[Hashable]:
        words = s.scalars(
            sa.text(
                "SELECT word FROM ts_stat('SELECT tsv FROM search_text') "
                "WHERE ndoc >= :n ORDER BY ndoc DESC, word LIMIT :limit"
            ),
            {"n": min_docs, "limit": limit},
        ).all()
        return [(False, word) for word in words]

    def id_list(self, column: Any) -> Any:
        return func.string_agg(sa.cast(column, sa.Text), ",")


BACKENDS: dict[str, type[SQLiteFTS] | type[PostgresFTS]] = {"sqlite": SQLiteFTS, "postgres": PostgresFTS}


@dataclass
class SearchRequest:
    q: str = ""
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)
    sort: str | None = None
    size: int = 10
    page: int = 1
    cursor: str | None = None
    all_versions: bool = False


@dataclass
class SearchResult:
    total: int
    recids: list[int]
    aggregations: dict[str, list[dict[str, Any]]]
    next_cursor: str | None
    sort: str


class SearchService:
    """Indexing and search. Searches are answered from a per-process columnar snapshot of the index
    (:mod:`portal.search.memory`) plus the text backend; ``in_memory=False`` (and the popularity sorts)
    answer them with SQL alone — the same results, slower on large catalogues."""

    def __init__(self, db: Database, backend: TextBackend, *, in_memory: bool = True, warm_words: int = 48) -> None:
        """``warm_words``: how many of the most frequent words get their scores fetched in a background thread
        whenever a snapshot is built (0: none), so that the first searches for them are not the slow ones."""
        self.db = db
        self.backend = backend
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
        if facets:
            s.execute(insert(FACET_ROWS), facets)

    def missing(self) -> int:
        """Published record versions not in the index (e.g. loaded before the index existed)."""
        with self.db.reader() as s:
            published = s.scalar(select(func.count()).select_from(Record).where(Record.status == "published")) or 0
            indexed = s.scalar(select(func.count()).select_from(DOCS)) or 0
            return published - indexed

    def reindex(self, batch_size: int = 2000) -> int:
        """Rebuild the whole index from the catalogue in one transaction (readers see the old index until it
        commits); returns the number of record versions looked at (drafts included).

        Bulk work: documents, text and facet rows are inserted ``batch_size`` records at a time, the latest
        version of every concept is worked out in one query, and the index is optimised once at the end."""
        with self.db.transaction() as s:
            s.execute(delete(FACET_ROWS))
            self.backend.clear(s)
            s.execute(delete(DOCS))
            best: dict[int, tuple[int, int]] = {}
            for recid, concept, version in s.execute(
                select(Record.recid, Record.concept_recid, Record.version_index).where(Record.status == "published")
            ):
                if concept not in best or version > best[concept][0]:
                    best[concept] = (version, recid)
            latest = {recid for _, recid in best.values()}
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
        if req.size < 1 or req.size > 1000:
            raise Invalid("size must be between 1 and 1000", field="size")
        if req.page < 1:
            raise Invalid("page must be at least 1", field="page")
        for name in req.filters:
            if name not in FACETS:
                raise Invalid(f"unknown facet {name!r}; facets: {', '.join(FACETS)}", field=name)
        ast = parse(req.q)
        sort = req.sort or ("bestmatch" if ast is not None else "mostrecent")
        if sort not in SORTS:
            raise Invalid(f"sort must be one of {', '.join(SORTS)}", field="sort")
        if self.in_memory and sort not in ("mostviewed", "mostdownloaded"):
            result = self._search_memory(req, ast, sort)
            if result is not None:
                return result
        return self._search_sql(req, ast, sort)

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

    def wait_warm(self, timeout: float | None = None) -> bool:
        """Wait until the words of the latest snapshot are warm (or warming gave up); False on timeout."""
        return self._warmed.wait(timeout)

    # Words in fewer documents than this are cheap to score when asked for: not worth fetching in advance.
    WARM_MIN_DOCS = 2000

    def _warm(self, snap: memory.Snapshot) -> None:
        """Fetch the scores (which are also the match sets) of the most frequent words into ``snap``'s cache,
        most frequent first, while ``snap`` is the current snapshot. Best effort: errors only end it early."""
        try:
            with self.db.reader() as s:
                if s.scalar(select(STATE.c.generation).where(STATE.c.id == 1)) != snap.generation:
                    return
                min_docs = max(self.WARM_MIN_DOCS, snap.n // 50)
                for key in self.backend.frequent_keys(s, min_docs, self.warm_words):
                    if self._snapshot is not snap:
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
            evaluator = memory.Evaluator(
                snap, s, self.backend, lambda facet, value, values: self._facet_values(s, facet, value, values)
            )
            score = None
            keys = self.backend.rank_keys(_positive_texts(ast)) if sort == "bestmatch" and ast is not None else None
            if keys is not None:  # (scores first: they also give the match sets of the words they rank)
                score = np.zeros(n, dtype=np.float64)
                for key in keys:
                    positions, values = snap.cache.get(("score", key), partial(self._scores, s, snap, key))
                    score[positions] += values
            base = evaluator.selected(ast) if ast is not None else np.ones(n, dtype=bool)
            if not req.all_versions:
                base = base & snap.latest
            filters: dict[str, np.ndarray] = {}
            for name, values in req.filters.items():
                if values:
                    column = snap.facets[name]
                    filters[name] = column.holders([column.index[v] for v in values if v in column.index], n)
            match = base & memory.combine_filters(filters, n)
            total = int(np.count_nonzero(match))
            start = 0 if req.cursor else (req.page - 1) * req.size
            cursor = _decode_cursor(req.cursor, 2) if req.cursor else None
            if score is not None:
                if cursor is not None:
                    v1, v2 = cursor
                    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in cursor):
                        return None
                    match = match & ((score < v1) | ((score == v1) & (snap.recids > v2)))
                hits = memory.top_by_score(score, match, start, req.size + 1)
                key_of = lambda p: float(score[p])  # noqa: E731
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
            next_cursor = _encode_cursor([key_of(int(hits[-1])), recids[-1]]) if more and len(hits) else None
            aggregations: dict[str, list[dict[str, Any]]] = {}
            unselected = [f for f in FACETS if f not in filters]
            if unselected:
                narrowed = base & memory.combine_filters(filters, n)
                for facet in unselected:
                    aggregations[facet] = memory.facet_counts(snap.facets[facet], narrowed, db_order=False)
            for facet in filters:
                narrowed = base & memory.combine_filters(filters, n, skip=facet)
                aggregations[facet] = memory.facet_counts(snap.facets[facet], narrowed, db_order=True)
        return SearchResult(
            total=total,
            recids=recids,
            aggregations={f: aggregations[f] for f in FACETS},
            next_cursor=next_cursor,
            sort=sort,
        )

    def _scores(self, s: Session, snap: memory.Snapshot, key: Hashable) -> tuple[np.ndarray, np.ndarray]:
        ids, values = self.backend.scores(s, key)
        positions, known = snap.locate(ids)
        return positions, values[known]

    @staticmethod
    def _facet_values(s: Session, facet: str, value: str, values: list[str]) -> list[str]:
        """Which of a facet's ``values`` the query term ``facet:value`` selects, decided by the database (its
        lower() and LIKE), exactly as :meth:`_exact` does on the facet rows."""
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

    def _search_sql(self, req: SearchRequest, ast: Node | None, sort: str) -> SearchResult:
        """The search as SQL over the index tables (the reference formulation)."""
        base = self._condition(ast) if ast is not None else true()
        if not req.all_versions:
            base = and_(base, DOCS.c.is_latest == true())
        filters = {f: self._facet_condition(f, values) for f, values in req.filters.items() if values}
        where = and_(base, *filters.values())
        with self.db.reader() as s:
            total = s.scalar(select(func.count()).select_from(DOCS).where(where)) or 0
            query, keys = self._sorted(ast, sort)
            query = query.where(where)
            if req.cursor:
                query = query.where(self._after(keys, _decode_cursor(req.cursor, len(keys))))
            elif req.page > 1:
                query = query.offset((req.page - 1) * req.size)
            rows = s.execute(query.limit(req.size + 1)).all()
            more = len(rows) > req.size
            rows = rows[: req.size]
            aggregations = self._aggregations(s, base, filters)
        next_cursor = _encode_cursor([_plain(v) for v in rows[-1][1:]]) if more and rows else None
        return SearchResult(
            total=total, recids=[r[0] for r in rows], aggregations=aggregations, next_cursor=next_cursor, sort=sort
        )

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
        raise Invalid("unsupported query", field="q")

    def _exact(self, node: Exact) -> sa.ColumnElement[bool]:
        value = node.value
        if node.field == "doi":
            from portal.pids.base import normalise_doi

            return DOCS.c.doi == normalise_doi(value)
        if node.field == "recid":
            if not value.isdigit():
                raise Invalid(f"recid must be a number, got {value!r}", field="q")
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
    ) -> dict[str, list[dict[str, Any]]]:
        """Counts per facet value. A facet's own selection does not narrow its counts (post-filter), so
        the facets without a selection share one grouped query and each selected facet gets its own."""
        out: dict[str, list[dict[str, Any]]] = {}
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
                out[facet] = [{"key": v, "doc_count": n} for v, n in pairs[:30]]
        for facet in filters:
            out[facet] = self._facet_counts(s, facet, and_(base, *[c for g, c in filters.items() if g != facet]))
        return {f: out[f] for f in FACETS}

    def _facet_counts(self, s: Session, facet: str, where: sa.ColumnElement[bool]) -> list[dict[str, Any]]:
        matching = select(DOCS.c.recid).where(where)
        count = func.count().label("n")
        rows = s.execute(
            select(FACET_ROWS.c.value, count)
            .where(FACET_ROWS.c.facet == facet, FACET_ROWS.c.recid.in_(matching))
            .group_by(FACET_ROWS.c.value)
            .order_by(count.desc(), FACET_ROWS.c.value)
            .limit(30)
        ).all()
        return [{"key": v, "doc_count": n} for v, n in rows]

    def _sorted(self, ast: Node | None, sort: str) -> tuple[Any, list[tuple[sa.ColumnElement[Any], bool]]]:
        """The base SELECT (recid + sort keys) and its keys as (column, descending)."""
        if sort == "bestmatch":
            texts = _positive_texts(ast) if ast is not None else []
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
        kind = "view" if sort == "mostviewed" else "download"
        popularity = (
            select(STATS.c.recid, func.sum(STATS.c.unique_visitors).label("n"))
            .where(STATS.c.scope == "concept", STATS.c.kind == kind)
            .group_by(STATS.c.recid)
            .subquery("popularity")
        )
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
        beyond1 = c1 < v1 if d1 else c1 > v1
        beyond2 = c2 < v2 if d2 else c2 > v2
        return or_(beyond1, and_(c1 == v1, beyond2))


def _positive_texts(node: Node | None) -> list[Text]:
    if node is None or isinstance(node, Not):
        return []
    if isinstance(node, Text):
        return [node]
    if isinstance(node, And | Or):
        return [t for n in node.nodes for t in _positive_texts(n)]
    return []


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, float) else value


def _encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, n: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(values, list) and len(values) == n:
            return values
    except ValueError:
        pass
    raise Invalid("cursor is not one this search returned; start again without it", field="cursor")


def backend_for(name: str, dialect: str) -> TextBackend:
    """The text backend named in settings ("" = the one matching the database)."""
    chosen = name or {"sqlite": "sqlite", "postgresql": "postgres"}.get(dialect, "")
    if chosen not in BACKENDS:
        raise Invalid(
            f"unknown search backend {chosen!r}; choose one of: {', '.join(BACKENDS)}", field="PORTAL_SEARCH_BACKEND"
        )
    if (chosen == "sqlite") != (dialect == "sqlite"):
        raise Invalid(f"the {chosen} search backend needs a {chosen} database", field="PORTAL_SEARCH_BACKEND")
    backend: TextBackend = BACKENDS[chosen]()
    return backend
