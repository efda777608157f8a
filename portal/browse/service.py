"""What the HTML pages and the search API show, each in one call: the home page's selections, search hits as
record versions, and a record page with its versions, relations both ways, citations and a page of files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from portal.catalog.results import RecordView
from portal.catalog.service import CatalogService
from portal.catalog.vocabulary import INVERSE
from portal.errors import NotFound, PortalError
from portal.exports.common import ExportRecord
from portal.exports.service import ExportService
from portal.files.preview import Previewer
from portal.search.results import FacetBucket, SearchRequest, SearchResult
from portal.search.service import SearchService

if TYPE_CHECKING:
    from portal.citations.service import CitationService, CitedBy
    from portal.launch.manager import LaunchManager

CITATION_STYLES = ("apa", "harvard", "chicago", "bibtex")
INDEX_FILE_TYPES = ("index.json", "index.txt")  # the files that list a file index; the index is shown instead


@dataclass(frozen=True)
class HomePage:
    featured: list[RecordView]  # a few datasets
    lessons: list[RecordView]
    total: int  # published records
    aggregations: dict[str, list[FacetBucket]]  # facet buckets over the datasets


@dataclass(frozen=True)
class SearchPage:
    """A search result with its hits read as record versions (in the result's order)."""

    result: SearchResult
    hits: list[RecordView]
    cited: dict[int, int] = field(default_factory=dict)  # citation count of each hit's concept (absent: none)


@dataclass(frozen=True)
class IncomingRelation:
    """Another record whose relations point at this one: its recid, title and the relation types."""

    recid: int
    title: str
    types: list[str]


@dataclass(frozen=True)
class FileSelection:
    """One page of a record's data files (file rows, index files left out) and the cursor of the next."""

    files: list[dict[str, Any]]
    next_after: int | None


@dataclass(frozen=True)
class RecordPage:
    """Everything the record page shows.

    ``outgoing`` are the record's own relations (JSON objects of its metadata) with `recid` and `title`
    filled in from the catalogue where the related record is here (also when named by DOI alone);
    ``jsonld`` and ``citations`` are rendered exports.
    """

    view: RecordView
    versions: list[RecordView]
    outgoing: list[dict[str, Any]]
    incoming: list[IncomingRelation]
    export: ExportRecord
    jsonld: str
    citations: dict[str, str]
    launch_env: str | None
    files: FileSelection
    cited_by: CitedBy | None = None  # who cites the record


@dataclass(frozen=True)
class PreviewPage:
    """A file's preview (the previewer's JSON document) on its record's page, with the columns that hold
    numbers (those a histogram can be drawn of)."""

    view: RecordView
    data: dict[str, Any]
    numeric: list[str]


@dataclass(frozen=True)
class Moved:
    """The recid asked for is shown under another one (a concept id: its latest version)."""

    recid: int


class BrowseService:
    def __init__(
        self,
        catalog: CatalogService,
        search: SearchService,
        exports: ExportService,
        previewer: Previewer,
        launches: LaunchManager | None,
        *,
        launch_enabled: bool,
        citations: CitationService | None = None,
    ) -> None:
        self.catalog = catalog
        self.citations = citations
        self.searching = search
        self.exports = exports
        self.previewer = previewer
        self.launches = launches if launch_enabled else None

    def home(self, *, featured: int = 6, lessons: int = 4, hidden: frozenset[int] = frozenset()) -> HomePage:
        """The home page: featured datasets and lessons (``hidden``: restricted recids the visitor may not see)."""
        datasets = self.searching.search(SearchRequest(filters={"type": ["Dataset"]}, size=featured, hidden=hidden))
        found = self.searching.search(SearchRequest(filters={"type": ["Lesson"]}, size=lessons, hidden=hidden))
        return HomePage(
            featured=self.catalog.get_hits(datasets.recids),
            lessons=self.catalog.get_hits(found.recids),
            total=self.catalog.count_published(),
            aggregations=datasets.aggregations,
        )

    def search(self, request: SearchRequest) -> SearchPage:
        """Run ``request``; its hits as record versions. Raises Invalid for a query that does not parse."""
        result = self.searching.search(request)
        hits = self.catalog.get_hits(result.recids)  # one batched read, not one `get` per hit
        if result.cited is not None:  # the counts the snapshot sorted by: the most cited are not counted again
            cited = result.cited
        else:
            cited = self.citations.counts([h.concept_recid for h in hits]) if self.citations is not None else {}
        return SearchPage(result=result, hits=hits, cited=cited)

    def record_page(
        self, recid: int, *, files: str = "", files_after: int = -1, files_size: int = 50
    ) -> RecordPage | Moved:
        """The page of version ``recid``, or :class:`Moved` when ``recid`` is shown under another recid.

        Args:
            files: filter of the page's file box: a glob (`*.root`), or a word the file keys contain.
            files_after: cursor of the file box (a position, as `FileSelection.next_after` gave it).
            files_size: files per page of the file box.

        Raises:
            NotFound: no such record, or not published.
        """
        view = self.catalog.get(recid)  # a concept id gives its latest version
        if view.recid != recid:
            return Moved(view.recid)
        export = self.exports.record(view.recid, view=view)
        render = self.exports.render_record
        outgoing = self._outgoing(view)
        return RecordPage(
            view=view,
            versions=self.catalog.versions(view.recid),
            outgoing=outgoing,
            incoming=self._incoming(view, outgoing),
            export=export,
            jsonld=render(export, "json-ld")[0],
            citations=self.exports.citations(export, CITATION_STYLES),  # formatted once per version and style
            launch_env=self.launches.environment_name(view.metadata) if self.launches is not None else None,
            files=self.data_files(view.recid, files, after=files_after, size=files_size),
            cited_by=self.citations.of_record(view.recid) if self.citations is not None else None,
        )

    def draft_page(self, view: RecordView, files: list[dict[str, Any]]) -> RecordPage:
        """What the record page will show once draft ``view`` is published (its depositor's preview): the same
        exports and relations, no other versions, and ``files`` (the draft's, as file rows) in the file box."""
        export = self.exports.record(view.recid, view=view)
        render = self.exports.render_record
        outgoing = self._outgoing(view)
        return RecordPage(
            view=view,
            versions=[],
            outgoing=outgoing,
            incoming=[],
            export=export,
            jsonld=render(export, "json-ld")[0],
            citations={name: render(export, name)[0] for name in CITATION_STYLES},
            launch_env=None,
            files=FileSelection(files, None),
            cited_by=None,
        )

    def preview_page(self, recid: int, key: str, *, rows: int = 10) -> PreviewPage:
        """The first ``rows`` rows of file ``key`` of version ``recid`` (a concept id: its latest version).

        Raises:
            NotFound: no such record or file. Invalid: a file the previewer cannot read.
        """
        view = self.catalog.get(recid)
        data = self.previewer.preview(view.recid, key, rows=rows).to_json()
        return PreviewPage(view, data, [c for c in data["columns"] if _holds_numbers(data["rows"], c)])

    def data_files(self, recid: int, text: str, *, after: int = -1, size: int = 50) -> FileSelection:
        """A page of the record's direct data files whose key matches ``text``: a glob when it holds `*` or
        `?`, else a word the key contains (an empty text matches every file)."""
        glob = text if not text or any(c in text for c in "*?") else f"*{text}*"
        items, next_after = self.catalog.find_files(recid, pattern=glob or None, after=after, size=size)
        return FileSelection([f for f in items if f.get("type") not in INDEX_FILE_TYPES], next_after)

    def _outgoing(self, view: RecordView) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen: set[tuple[Any, Any]] = set()
        for rel in view.metadata.get("relations") or []:
            title, linked = rel.get("title"), rel.get("recid")
            if not linked and rel.get("doi"):  # a relation by DOI alone links when that DOI is in the catalogue
                try:
                    linked = self.catalog.find_by_doi(rel["doi"]).recid
                except NotFound:
                    linked = None
            if linked:
                try:
                    title = self.catalog.get(int(linked)).metadata["title"]
                except (PortalError, ValueError):  # a relation to a record not (yet) in this portal
                    title = title or f"Record {linked}"
            target = (rel.get("type"), str(linked) if linked else rel.get("doi") or rel.get("identifier") or title)
            if target in seen:
                continue  # the same relation written twice (by recid and by DOI, say) is listed once
            seen.add(target)
            out.append({**rel, "recid": linked, "title": title})
        return out

    def _incoming(self, view: RecordView, outgoing: list[dict[str, Any]]) -> list[IncomingRelation]:
        """Records whose relations point at this version or its concept, each once (a record relating to both
        is found twice); one already listed among ``outgoing`` with the inverse relation is left out, since
        the page names it there."""
        targets = (str(view.recid), str(view.concept_recid))
        others = self.searching.related_to(view.recid)
        if view.concept_recid != view.recid:
            others += self.searching.related_to(view.concept_recid)
        stated = {(str(rel.get("recid")), rel.get("type")) for rel in outgoing if rel.get("recid")}
        by_concept: dict[int, tuple[RecordView, list[str]]] = {}
        for other in dict.fromkeys(o for o in others if o not in (view.recid, view.concept_recid)):
            other_view = self.catalog.get(other)
            kinds = [r["type"] for r in other_view.metadata.get("relations") or [] if str(r.get("recid")) in targets]
            held = by_concept.get(other_view.concept_recid)
            if held is not None:
                # two versions of one record relate here: list the record once, as its latest version
                if not other_view.is_latest and held[0].is_latest:
                    other_view = held[0]
                kinds = held[1] + kinds
            by_concept[other_view.concept_recid] = (other_view, kinds)
        incoming = []
        for other_view, kinds in by_concept.values():
            kinds = list(dict.fromkeys(kinds))
            stated_here = {str(other_view.recid), str(other_view.concept_recid)}
            if kinds and all(any((r, INVERSE.get(k)) in stated for r in stated_here) for k in kinds):
                continue
            incoming.append(IncomingRelation(other_view.recid, other_view.metadata["title"], kinds))
        return incoming


def _holds_numbers(rows: list[dict[str, Any]], column: str) -> bool:
    """Whether the first value of ``column`` that is set (the first element of a list) reads as a number."""
    for row in rows:
        value = row.get(column)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:
                float(value)
            except (TypeError, ValueError):
                return False
        return True
    return False
