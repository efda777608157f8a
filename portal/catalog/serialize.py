"""Record JSON in the CERN Open Data shape (`{"id", "metadata", "links"}`), plus Zenodo-style version fields.

`_file_indices` can be expanded from the file rows; that part is streamed, so a record with a million
index entries is served in bounded memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from portal.catalog.service import RecordView

_PLACEHOLDER = "__portal_file_indices__"


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


def stream_record_json(
    view: RecordView, base_url: str, *, indices: str, entries: Callable[[str], Iterable[dict[str, Any]]]
) -> Iterator[str]:
    """The record JSON as text chunks. ``indices`` is "expand", "summary" or "none" (also drops `files`)."""
    body = record_envelope(view, base_url)
    if indices == "none":
        body["metadata"].pop("files", None)
        yield json.dumps(body)
        return
    summaries = [index_summary(view.recid, i, base_url) for i in view.indices]
    if indices == "summary" or not summaries:
        body["metadata"]["_file_indices"] = summaries
        yield json.dumps(body)
        return
    body["metadata"]["_file_indices"] = _PLACEHOLDER
    head, tail = json.dumps(body).split(json.dumps(_PLACEHOLDER), 1)
    yield head + "["
    for n, summary in enumerate(summaries):
        prefix = json.dumps(summary)[:-1]  # open object, add "files" last
        yield ("," if n else "") + prefix + ', "files": ['
        buffer: list[str] = []
        first = True
        for entry in entries(summary["key"]):
            buffer.append(("" if first else ",") + json.dumps(entry))
            first = False
            if len(buffer) >= 2000:
                yield "".join(buffer)
                buffer = []
        yield "".join(buffer) + "]}"
    yield "]" + tail
