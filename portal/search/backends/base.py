"""The search-backend seam: the part of search that stores text and matches and ranks it, per database.

Everything else about a search (facets, ranges, versions, sorting, paging) is the search service's, over the
index tables of :mod:`portal.search.models`. A backend is registered by name in the entry-point group
``portal.search`` (see :mod:`portal.registry`) and chosen by ``PORTAL_SEARCH_BACKEND``; empty, the portal
uses the one registered for the database's dialect.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.errors import Invalid
from portal.i18n import N_
from portal.search.documents import SearchDocument
from portal.search.query import Text

if TYPE_CHECKING:
    from portal.db.engine import Database
    from portal.settings import Settings

_WORD = re.compile(r"\w+", re.UNICODE)


def words_of(text: str) -> list[str]:
    """The words of ``text``, lower-cased; a text node without words matches every document."""
    return [w.lower() for w in _WORD.findall(text)]


def check_dialect(name: str, dialect: str | None, db: Database) -> None:
    """Refuse a backend built for ``dialect`` databases (None: any) on the database ``db``: the setting that
    chose it is wrong, and :class:`Invalid` names it."""
    if dialect is not None and db.dialect != dialect:
        raise Invalid(
            N_(
                "the {name} search backend needs a {dialect} database, and this "
                "database is {db_dialect}; leave it empty for the backend matching the "
                "database"
            ),
            name=name,
            dialect=dialect,
            db_dialect=db.dialect,
            field="PORTAL_SEARCH_BACKEND",
        )


class TextBackend(Protocol):
    """Stores the text of indexed documents and matches and ranks query words against it.

    Writes run in the caller's transaction (the one that changes the catalogue), so the text is always in step
    with the index tables. A backend that cannot be reached raises :class:`portal.errors.Unavailable` (503).

    A search is answered two ways that must give the same hits, scores and order: as SQL (:meth:`condition`,
    :meth:`ranked`) and from the in-memory snapshot (:meth:`match_ids`, :meth:`rank_keys`, :meth:`scores`),
    which the search service caches per index generation under the keys the backend gives.
    """

    name: str
    #: The SQLAlchemy dialect name of the databases the backend works on ("sqlite", "postgresql"); None: any.
    dialect: ClassVar[str | None]

    @classmethod
    def from_settings(cls, settings: Settings, *, db: Database) -> TextBackend:
        """The backend for the database ``db``; :class:`portal.errors.Invalid` naming ``PORTAL_SEARCH_BACKEND``
        when it cannot work on that database."""
        ...

    def insert(self, s: Session, docs: Sequence[SearchDocument], rows: list[dict[str, Any]]) -> None:
        """Add documents: ``rows`` are their ``search_documents`` rows (same order); the backend writes those
        rows and adds the text of ``docs``."""
        ...

    def remove(self, s: Session, recid: int) -> None:
        """Remove the text of one document (its ``search_documents`` row is the caller's to delete)."""
        ...

    def clear(self, s: Session) -> None:
        """Remove the text of every document (before a rebuild)."""
        ...

    def optimise(self, s: Session) -> None:
        """Called after a bulk load (merge index segments, refresh planner statistics)."""
        ...

    def condition(self, node: Text) -> sa.ColumnElement[bool]:
        """A condition on ``search_documents`` selecting the documents that match ``node`` (true for a node
        without words). Words are ANDed; a phrase matches its words in order, within one field; ``node.field``
        (title, author, keywords) limits the match to that field."""
        ...

    def ranked(self, nodes: Sequence[Text]) -> sa.Subquery | None:
        """(recid, score) of documents matching any of ``nodes``, higher score = better; None when no node has
        words. A title hit weighs more than a body hit, and matching more of the nodes scores higher."""
        ...

    def match_key(self, node: Text) -> Hashable | None:
        """A cache key for the documents matching ``node`` (None: it has no words and matches everything)."""
        ...

    def match_ids(self, s: Session, node: Text) -> np.ndarray:
        """The recids of the documents matching ``node`` (those :meth:`condition` selects)."""
        ...

    def rank_keys(self, nodes: Sequence[Text]) -> list[Hashable] | None:
        """Parts whose :meth:`scores`, added in this order, give exactly the scores of :meth:`ranked`
        (bit for bit); None when no node has words."""
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
