"""What a search is asked and what it answers: the search service's request and result types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# The sort orders, by name. The popularity sorts count unique visitors of the record's concept (all versions);
# "mostcited" its citations (external works and the portal's records relating to it).
SORTS = ("bestmatch", "mostrecent", "title", "-title", "mostviewed", "mostdownloaded", "mostcited")
#: the sorts by a count per concept, answered by SQL joining that count (kind of count by sort)
COUNTED_SORTS = {"mostviewed": "view", "mostdownloaded": "download", "mostcited": "cite"}
#: the counted sorts whose counts change only with the index (citations: a citation added or removed, a record
#: relating to another, re-index the records they count for), so the snapshot holds them per index generation
#: and answers these sorts itself; the usage counts move without the index and stay with SQL.
SNAPSHOT_COUNTED_SORTS = frozenset({"mostcited"})


@dataclass
class SearchRequest:
    """A search: ``q`` in the query language (:mod:`portal.search.query`), facet ``filters`` (facet -> values,
    values of one facet ORed), ``sort`` (one of :data:`SORTS`; None: best match when ``q`` has terms, else most
    recent), a page of ``size`` hits (1-1000) given by ``page`` (from 1) or by ``cursor`` (search-after, from
    :attr:`SearchResult.next_cursor`), and ``all_versions`` (else only the latest version of each record);
    ``hidden`` recids are never found."""

    q: str = ""
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)
    sort: str | None = None
    size: int = 10
    page: int = 1
    cursor: str | None = None
    all_versions: bool = False
    #: recids the asker may not see (restricted records): left out of hits and facet counts
    hidden: frozenset[int] = frozenset()


@dataclass(frozen=True)
class FacetBucket:
    """One value of a facet and the number of matching documents holding it."""

    key: str
    doc_count: int


@dataclass
class SearchResult:
    """The hits of one page (record version ids, in order) among ``total`` matches; per facet its 30 most
    frequent values among the matches (a facet's own filter does not narrow its counts); ``next_cursor``
    (None on the last page) and the sort applied."""

    total: int
    recids: list[int]
    aggregations: dict[str, list[FacetBucket]]
    next_cursor: str | None
    sort: str
    #: with a sort by counts the snapshot holds (`mostcited`): each hit's concept's count, the one it was ordered
    #: by (absent: none), so a page need not count its hits again; None: not known here
    cited: dict[int, int] | None = field(default=None, compare=False)
