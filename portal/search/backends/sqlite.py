"""The SQLite search backend: an FTS5 table (migration 0012) ranked with BM25."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import sqlalchemy as sa
from sqlalchemy import func, insert, select, true
from sqlalchemy.orm import Session

from portal.search import memory
from portal.search.backends.base import check_dialect, words_of
from portal.search.documents import SearchDocument
from portal.search.models import DOCS
from portal.search.query import Text

if TYPE_CHECKING:
    from portal.db.engine import Database
    from portal.settings import Settings


def _raw(s: Session) -> Any:
    """The DBAPI connection under a session (for results too large to build SQLAlchemy rows for)."""
    return s.connection().connection.driver_connection


class SQLiteFTS:
    """SQLite FTS5 with BM25; the title column weighs 10x the body."""

    name = "sqlite"
    dialect: ClassVar[str | None] = "sqlite"
    COLUMNS = {"title": "title", "author": "authors", "keywords": "keywords"}

    @classmethod
    def from_settings(cls, settings: Settings, *, db: Database) -> SQLiteFTS:
        check_dialect(cls.name, cls.dialect, db)
        return cls()

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
        words = words_of(node.value)
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
        if all(n.phrase or len(words_of(n.value)) == 1 for n, _ in usable):
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
