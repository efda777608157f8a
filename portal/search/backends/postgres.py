"""The PostgreSQL search backend: weighted tsvectors with GIN indexes (migrations 0012, 0013, 0013b, 0013c)."""

from __future__ import annotations

import re
import struct
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import sqlalchemy as sa
from sqlalchemy import func, or_, select, true
from sqlalchemy.orm import Session

from portal.db.bulk import copy_rows
from portal.search import memory
from portal.search.backends.base import check_dialect, words_of
from portal.search.documents import SearchDocument
from portal.search.models import DOCS
from portal.search.query import Text

if TYPE_CHECKING:
    from portal.db.engine import Database
    from portal.settings import Settings

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
    dialect: ClassVar[str | None] = "postgresql"
    COLUMNS = {"title": "title", "author": "authors", "keywords": "keywords"}
    CONFIG = "'simple'::regconfig"

    @classmethod
    def from_settings(cls, settings: Settings, *, db: Database) -> PostgresFTS:
        check_dialect(cls.name, cls.dialect, db)
        return cls()

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

    # From this many documents on (a reindex batch), rows are COPied into a staging table and the vectors
    # computed by one INSERT ... SELECT: no statement per document (the vectors are the same expressions).
    BULK = 100
    STAGING = (
        "CREATE TEMP TABLE IF NOT EXISTS search_load (recid integer, concept_recid integer, is_latest boolean, "
        "title text, title_sort text, doi text, date_published text, year integer, number_events bigint, "
        "a text, k text, b text) ON COMMIT DROP"
    )
    STAGED_COLUMNS = (
        "recid",
        "concept_recid",
        "is_latest",
        "title",
        "title_sort",
        "doi",
        "date_published",
        "year",
        "number_events",
    )
    FROM_STAGING = sa.text(
        "INSERT INTO search_documents (recid, concept_recid, is_latest, title, title_sort, doi, date_published, "
        "year, number_events, tsv, tsv_title, tsv_authors, tsv_keywords, fields) SELECT recid, concept_recid, "
        "is_latest, title, title_sort, doi, date_published, year, number_events, "
        "setweight(to_tsvector('simple', title), 'A') || setweight(to_tsvector('simple', a), 'B') || "
        "setweight(to_tsvector('simple', k), 'C') || setweight(to_tsvector('simple', b), 'D'), "
        "to_tsvector('simple', title), to_tsvector('simple', a), to_tsvector('simple', k), "
        "jsonb_build_object('authors', a, 'keywords', k) FROM search_load"
    )

    def insert(self, s: Session, docs: Sequence[SearchDocument], rows: list[dict[str, Any]]) -> None:
        if len(docs) >= self.BULK:
            self._insert_staged(s, docs, rows)
            return
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

    def _insert_staged(self, s: Session, docs: Sequence[SearchDocument], rows: list[dict[str, Any]]) -> None:
        s.execute(sa.text(self.STAGING))
        copy_rows(
            s,
            "search_load",
            (*self.STAGED_COLUMNS, "a", "k", "b"),
            (
                (*(row[c] for c in self.STAGED_COLUMNS), d.authors, d.keywords, d.body)
                for d, row in zip(docs, rows, strict=True)
            ),
        )
        s.execute(self.FROM_STAGING)
        s.execute(
            sa.text(
                "INSERT INTO search_text (recid, tsv) SELECT d.recid, d.tsv FROM search_load AS l "
                "JOIN search_documents AS d ON d.recid = l.recid"
            )
        )
        s.execute(sa.text("TRUNCATE search_load"))

    def remove(self, s: Session, recid: int) -> None:
        s.execute(sa.text("DELETE FROM search_text WHERE recid = :r"), {"r": recid})

    # The tables a rebuild fills, and the secondary indexes (not keys) that a first build makes after the load.
    TABLES = ("search_documents", "search_text", "search_facets")
    SECONDARY = sa.text(
        "SELECT i.indexname, i.indexdef FROM pg_indexes AS i JOIN pg_class AS c ON c.relname = i.indexname "
        "WHERE i.schemaname = current_schema() AND i.tablename = ANY(:tables) AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint AS k WHERE k.conindid = c.oid) ORDER BY i.indexname"
    )

    FOREIGN_KEYS = sa.text(
        "SELECT k.conrelid::regclass::text, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint AS k "
        "WHERE k.contype = 'f' AND k.conrelid::regclass::text = ANY(:tables) ORDER BY 1, 2"
    )

    def clear(self, s: Session) -> None:
        """Before a rebuild. When the index is empty (the first build after a bulk load or a restore: no search
        is served from it), its secondary indexes and foreign keys are dropped here and made again by
        :meth:`optimise` after the load, in the same transaction: building a GIN index or checking a key once is
        several times cheaper than growing the index or firing the key's trigger row by row. A non-empty index
        keeps them, so searches go on reading the old index until the rebuild commits (dropping them would lock
        the tables for the whole rebuild)."""
        if s.scalar(sa.text("SELECT NOT EXISTS (SELECT 1 FROM search_text)")):
            rebuild: list[str] = []
            # Foreign keys too: checked row by row (a trigger per facet row), validated in one join when added.
            for table, name, definition in s.execute(self.FOREIGN_KEYS, {"tables": list(self.TABLES)}).all():
                s.execute(sa.text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
                rebuild.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            for name, definition in s.execute(self.SECONDARY, {"tables": list(self.TABLES)}).all():
                s.execute(sa.text(f'DROP INDEX "{name}"'))
                rebuild.insert(0, definition)  # indexes before the keys (a key's check may use them)
            s.info["search_rebuild"] = rebuild
        s.execute(sa.text("DELETE FROM search_text"))

    def optimise(self, s: Session) -> None:
        rebuild = s.info.pop("search_rebuild", [])
        if rebuild:
            s.execute(sa.text("SET LOCAL maintenance_work_mem = '256MB'"))  # GIN builds sort in memory
        for definition in rebuild:
            s.connection().exec_driver_sql(definition)
        for table in self.TABLES:
            s.execute(sa.text(f"ANALYZE {table}"))

    def _tsquery(self, node: Text) -> sa.ColumnElement[Any]:
        maker = func.phraseto_tsquery if node.phrase else func.plainto_tsquery
        return maker(sa.literal_column(self.CONFIG), sa.bindparam(None, node.value))

    def _vector(self, node: Text) -> sa.ColumnElement[Any]:
        column = {"title": "tsv_title", "author": "tsv_authors", "keywords": "tsv_keywords"}.get(
            node.field or "", "tsv"
        )
        return sa.literal_column(f"search_documents.{column}")

    def condition(self, node: Text) -> sa.ColumnElement[bool]:
        if not words_of(node.value):
            return true()
        return self._vector(node).bool_op("@@")(self._tsquery(node))

    @staticmethod
    def _part(node: Text) -> tuple[bool, str]:
        """What a node's score depends on: phrase or not, and its text (ASCII text lower-cased: the same query)."""
        return node.phrase, node.value.lower() if node.value.isascii() else node.value

    def ranked(self, nodes: Sequence[Text]) -> sa.Subquery | None:
        parts = [self._part(n) for n in nodes if words_of(n.value)]
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
        return (node.field, node.phrase, node.value) if words_of(node.value) else None

    def match_ids(self, s: Session, node: Text) -> np.ndarray:
        if node.field is None and words_of(node.value):  # the narrow table holds the same vectors
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
        parts: list[Hashable] = [self._part(n) for n in nodes if words_of(n.value)]
        return parts or None

    # Ids and scores as two arrays in PostgreSQL's binary form, in one row (the same row order for both
    # aggregates): the rows never pass one by one through Python, and no number is printed or parsed as text
    # (a third of the time of a word in 75,000 documents). ts_rank is a real: kept as float32 (8 bytes a match
    # with the position, not 12: more words fit the snapshot's cache), widened exactly when scores are added.
    SCORES = "SELECT array_send(array_agg(recid)), array_send(array_agg(ts_rank(tsv, q))) FROM search_text, "

    def scores(self, s: Session, key: Hashable) -> tuple[np.ndarray, np.ndarray]:
        assert isinstance(key, tuple)
        phrase, value = key
        where, params = self._matching(s, phrase, value)
        ids, values = s.execute(sa.text(self.SCORES + where), params).one()
        return binary_array(ids, ">i4").astype(np.int64), binary_array(values, ">f4").astype(np.float32)

    def score_key(self, node: Text) -> Hashable | None:
        # Scores are of the whole-document vector: they give the match set of nodes without a field only.
        return self._part(node) if node.field is None and words_of(node.value) else None

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
