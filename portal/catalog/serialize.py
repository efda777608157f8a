"""Record JSON in the CERN Open Data shape (`{"id", "metadata", "links"}`), plus Zenodo-style version fields.

`_file_indices` can be expanded from the file rows; that part is streamed, so a record with a million
index entries is served in bounded memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from portal.catalog.results import RecordView
from portal.catalog.service import CatalogService

_PLACEHOLDER = "__portal_file_indices__"
_FILES_PLACEHOLDER = "__portal_direct_files__"


def record_links(view: RecordView, base_url: str) -> dict[str, str]:
    base = base_url.rstrip("/")
    links = {
        "self": f"{base}/api/records/{view.recid}",
        "html": f"{base}/record/{view.recid}",
        "files": f"{base}/api/records/{view.recid}/files",
        "versions": f"{base}/api/records/{view.recid}/versions",
        "latest": f"{base}/api/records/{view.concept_recid}/versions/latest",
        "latest_html": f"{base}/record/{view.concept_recid}",
        "parent": f"{base}/api/records/{view.concept_recid}",
        "parent_html": f"{base}/record/{view.concept_recid}",
    }
    if view.doi:
        links["doi"] = links["self_doi"] = f"https://doi.org/{view.doi}"
    if view.concept_doi:
        links["parent_doi"] = f"https://doi.org/{view.concept_doi}"
    return links


def record_metadata(view: RecordView, base_url: str) -> dict[str, Any]:
    """The metadata object: stored metadata plus identifiers, versions and (unexpanded) files."""
    md = dict(view.metadata)
    md["recid"] = str(view.recid)
    if view.doi:
        md["doi"] = view.doi
    md["conceptrecid"] = str(view.concept_recid)
    if view.concept_doi:
        md["conceptdoi"] = view.concept_doi
    md["files"] = [f for f in view.files if f.get("type") not in ("index.json", "index.txt")]
    md["versions"] = {"index": view.version_index, "is_latest": view.is_latest}
    return md


def index_summary(recid: int, index: dict[str, Any], base_url: str) -> dict[str, Any]:
    base = base_url.rstrip("/")
    out = {k: v for k, v in index.items() if v is not None}
    out["links"] = {
        "json": f"{base}/record/{recid}/file_index/{index['key']}.json",
        "txt": f"{base}/record/{recid}/file_index/{index['key']}.txt",
        "files": f"{base}/api/records/{recid}/files?index={index['key']}",
    }
    return out


def isoformat_utc(moment: datetime) -> str:
    """ISO 8601 in UTC; SQLite hands back naive datetimes, which the portal always writes in UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def record_envelope(view: RecordView, base_url: str) -> dict[str, Any]:
    return {
        "id": view.recid,
        "conceptrecid": view.concept_recid,
        "created": isoformat_utc(view.created_at),
        "updated": isoformat_utc(view.updated_at),
        "revision": view.revision,
        "status": view.status,
        "metadata": record_metadata(view, base_url),
        "links": record_links(view, base_url),
    }


def direct_files(catalog: CatalogService, recid: int, page: int = 1000) -> Iterator[dict[str, Any]]:
    """Every direct file (not a file-index entry) of record ``recid`` in order, read a page at a time."""
    after = -1
    while True:
        items, cursor = catalog.find_files(recid, after=after, size=page)
        for item in items:
            item.pop("position", None)
            yield item
        if cursor is None:
            return
        after = cursor


def _json_array(items: Iterable[dict[str, Any]]) -> Iterator[str]:
    """A JSON array of ``items`` as text chunks of up to 2000 entries (bounded memory)."""
    buffer = ["["]
    first = True
    for item in items:
        buffer.append(("" if first else ",") + json.dumps(item))
        first = False
        if len(buffer) >= 2000:
            yield "".join(buffer)
            buffer = []
    yield "".join(buffer) + "]"


def stream_record_json(
    view: RecordView,
    base_url: str,
    *,
    indices: str,
    entries: Callable[[str], Iterable[dict[str, Any]]],
    files: Callable[[], Iterable[dict[str, Any]]] | None = None,
) -> Iterator[str]:
    """The record JSON as text chunks. ``indices`` is "expand", "summary" or "none" (also drops `files`).

    ``files``, when given, yields every direct file of the record from its rows, so `files` lists them all
    (the view holds only the first page of them); index files among them are left out, as in
    :func:`record_metadata`.
    """
    body = record_envelope(view, base_url)
    if indices == "none":
        body["metadata"].pop("files", None)
        yield json.dumps(body)
        return
    streams: dict[str, Callable[[], Iterator[str]]] = {}
    if files is not None:
        body["metadata"]["files"] = _FILES_PLACEHOLDER
        direct = files
        streams[json.dumps(_FILES_PLACEHOLDER)] = lambda: _json_array(
            f for f in direct() if f.get("type") not in ("index.json", "index.txt")
        )
    summaries = [index_summary(view.recid, i, base_url) for i in view.indices]
    if indices == "summary" or not summaries:
        body["metadata"]["_file_indices"] = summaries
    else:
        body["metadata"]["_file_indices"] = _PLACEHOLDER
        streams[json.dumps(_PLACEHOLDER)] = lambda: _expanded_indices(summaries, entries)
    text = json.dumps(body)
    position = 0
    for placeholder, stream in sorted(streams.items(), key=lambda item: text.index(item[0])):
        at = text.index(placeholder)
        yield text[position:at]
        yield from stream()
        position = at + len(placeholder)
    yield text[position:]


def _expanded_indices(
    summaries: list[dict[str, Any]], entries: Callable[[str], Iterable[dict[str, Any]]]
) -> Iterator[str]:
    yield "["
    for n, summary in enumerate(summaries):
        prefix = json.dumps(summary)[:-1]  # open object, add "files" last
        yield ("," if n else "") + prefix + ', "files": '
        yield from _json_array(entries(summary["key"]))
        yield "}"
    yield "]"
