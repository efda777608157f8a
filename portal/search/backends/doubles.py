"""Search-backend doubles for unit tests and failure modes: text held in memory, and a text index that is down."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

import numpy as np
import sqlalchemy as sa
from sqlalchemy import func, insert, select, true
from sqlalchemy.orm import Session

from portal.errors import Unavailable
from portal.i18n import N_
from portal.search.backends.base import words_of
from portal.search.documents import SearchDocument
from portal.search.models import DOCS
from portal.search.query import Text

if TYPE_CHECKING:
    from portal.db.engine import Database
    from portal.settings import Settings


def _id_list(dialect: str, column: Any) -> Any:
    if dialect == "postgresql":
        return func.string_agg(sa.cast(column, sa.Text), ",")
    return func.group_concat(column)


class MemoryText:
    """Full text held in this process's memory and matched by scanning every document; works on any database.
    Not transactional (a rolled-back write stays) and not shared between processes: for unit tests only.

    A document matches a node when it holds every word (in the node's field, or in any field), or, for a
    phrase, the words in a row within one field. A node's score is the weighted number of its hits (a title
    hit weighs 10, an author or keyword hit 2, a body hit 1); a query's score is the sum of its nodes'.
    """

    name = "memory"
    dialect: ClassVar[str | None] = None
    development_only = True
    WEIGHTS = {"title": 10.0, "authors": 2.0, "keywords": 2.0, "body": 1.0}
    COLUMNS = {"title": "title", "author": "authors", "keywords": "keywords"}

    def __init__(self, dialect: str = "sqlite") -> None:
        """``dialect``: of the database the index tables are in (for :meth:`id_list`)."""
        self.sql_dialect = dialect
        self.texts: dict[int, dict[str, list[str]]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, db: Database) -> MemoryText:
        return cls(db.dialect)

    def insert(self, s: Session, docs: Sequence[SearchDocument], rows: list[dict[str, Any]]) -> None:
        s.execute(insert(DOCS), rows)
        with self._lock:
            for d in docs:
                self.texts[d.recid] = {f: words_of(getattr(d, f)) for f in self.WEIGHTS}

    def remove(self, s: Session, recid: int) -> None:
        with self._lock:
            self.texts.pop(recid, None)

    def clear(self, s: Session) -> None:
        with self._lock:
            self.texts.clear()

    def optimise(self, s: Session) -> None:
        pass

    @staticmethod
    def _key(node: Text) -> Text | None:
        """The node with its words normalised (the same words give the same key); None when it has none."""
        found = words_of(node.value)
        return Text(" ".join(found), node.phrase, node.field) if found else None

    def _hits(self, key: Text) -> dict[int, float]:
        """The score of every document matching ``key``."""
        wanted = key.value.split(" ")
        fields = [self.COLUMNS[key.field]] if key.field in self.COLUMNS else list(self.WEIGHTS)
        out: dict[int, float] = {}
        with self._lock:
            texts = list(self.texts.items())
        for recid, text in sorted(texts):
            score = 0.0
            if key.phrase:
                for f in fields:
                    held = text[f]
                    n = sum(held[i : i + len(wanted)] == wanted for i in range(len(held) - len(wanted) + 1))
                    score += self.WEIGHTS[f] * n
                if score:
                    out[recid] = score
            else:
                counts = {f: Counter(text[f]) for f in fields}
                if all(any(counts[f][w] for f in fields) for w in wanted):
                    out[recid] = sum(self.WEIGHTS[f] * counts[f][w] for f in fields for w in wanted)
        return out

    def condition(self, node: Text) -> sa.ColumnElement[bool]:
        key = self._key(node)
        if key is None:
            return true()
        return DOCS.c.recid.in_(sorted(self._hits(key)))

    def ranked(self, nodes: Sequence[Text]) -> sa.Subquery | None:
        keys = [k for k in (self._key(n) for n in nodes) if k is not None]
        if not keys:
            return None
        total: dict[int, float] = {}
        for key in keys:  # added in the order of the nodes, as the snapshot adds them
            for recid, score in self._hits(key).items():
                total[recid] = total.get(recid, 0.0) + score
        score_of = sa.case(total, value=DOCS.c.recid, else_=0.0) if total else sa.literal(0.0)
        return (
            select(DOCS.c.recid.label("recid"), sa.cast(score_of, sa.Float).label("score"))
            .where(DOCS.c.recid.in_(sorted(total)))
            .subquery("ranked")
        )

    def match_key(self, node: Text) -> Hashable | None:
        return self._key(node)

    def match_ids(self, s: Session, node: Text) -> np.ndarray:
        key = self._key(node)
        return np.array(sorted(self._hits(key)) if key else [], dtype=np.int64)

    def rank_keys(self, nodes: Sequence[Text]) -> list[Hashable] | None:
        keys: list[Hashable] = [k for k in (self._key(n) for n in nodes) if k is not None]
        return keys or None

    def scores(self, s: Session, key: Hashable) -> tuple[np.ndarray, np.ndarray]:
        assert isinstance(key, Text)
        hits = self._hits(key)
        return np.fromiter(hits, dtype=np.int64, count=len(hits)), np.array(list(hits.values()), dtype=np.float64)

    def score_key(self, node: Text) -> Hashable | None:
        return self._key(node)

    def frequent_keys(self, s: Session, min_docs: int, limit: int) -> list[Hashable]:
        docs: Counter[str] = Counter()
        with self._lock:
            for text in self.texts.values():
                docs.update({w for held in text.values() for w in held})
        frequent = sorted((w for w, n in docs.items() if n >= min_docs), key=lambda w: (-docs[w], w))
        return [Text(w) for w in frequent[:limit]]

    def id_list(self, column: Any) -> Any:
        return _id_list(self.sql_dialect, column)


class DownText:
    """A text index that cannot be reached: every write and every query of words raises Unavailable (503).
    Searches without words still work (they need only the index tables), as they would with the real index down;
    writes fail, so the catalogue change that would have indexed a record is rolled back with them."""

    name = "down"
    dialect: ClassVar[str | None] = None
    development_only = True

    def __init__(self, dialect: str = "sqlite", reason: str = "the full-text index is down") -> None:
        self.sql_dialect = dialect
        self.reason = reason

    @classmethod
    def from_settings(cls, settings: Settings, *, db: Database) -> DownText:
        return cls(db.dialect)

    def _down(self) -> NoReturn:
        raise Unavailable(N_("search is unavailable: {reason}"), reason=self.reason)

    def insert(self, s: Session, docs: Sequence[SearchDocument], rows: list[dict[str, Any]]) -> None:
        self._down()

    def remove(self, s: Session, recid: int) -> None:
        self._down()

    def clear(self, s: Session) -> None:
        self._down()

    def optimise(self, s: Session) -> None:
        self._down()

    def _query(self, nodes: Sequence[Text]) -> None:
        """Down for any node with words; nodes without words need no text (they match everything)."""
        if any(words_of(n.value) for n in nodes):
            self._down()

    def condition(self, node: Text) -> sa.ColumnElement[bool]:
        self._query([node])
        return true()

    def ranked(self, nodes: Sequence[Text]) -> sa.Subquery | None:
        self._query(nodes)
        return None

    def match_key(self, node: Text) -> Hashable | None:
        self._query([node])
        return None

    def match_ids(self, s: Session, node: Text) -> np.ndarray:
        self._down()

    def rank_keys(self, nodes: Sequence[Text]) -> list[Hashable] | None:
        self._query(nodes)
        return None

    def scores(self, s: Session, key: Hashable) -> tuple[np.ndarray, np.ndarray]:
        self._down()

    def score_key(self, node: Text) -> Hashable | None:
        self._query([node])
        return None

    def frequent_keys(self, s: Session, min_docs: int, limit: int) -> list[Hashable]:
        self._down()

    def id_list(self, column: Any) -> Any:
        return _id_list(self.sql_dialect, column)
