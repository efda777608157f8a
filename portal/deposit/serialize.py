"""Drafts and their files in InvenioRDM's REST shapes (what Zenodo runs), on top of the record envelope the rest of
the API answers with, so a client of either finds the fields it reads."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from portal.catalog.results import RecordView
from portal.catalog.serialize import isoformat_utc, record_envelope
from portal.deposit.service import DraftFile


def draft_json(view: RecordView, base_url: str) -> dict[str, Any]:
    """A draft or a published version: the record envelope plus InvenioRDM's `is_published`, `parent`, `pids`,
    `versions`, `files` and the deposit links (`draft`, `files`, `publish`, `versions`)."""
    body = record_envelope(view, base_url)
    api = f"{base_url.rstrip('/')}/api/records/{view.recid}"
    published = view.status == "published"
    body["links"] = {
        **body["links"],
        "self": api if published else f"{api}/draft",
        "record": api,
        "draft": f"{api}/draft",
        "files": f"{api}/draft/files" if not published else f"{api}/files",
        "publish": f"{api}/draft/actions/publish",
        "versions": f"{api}/versions",
    }
    pids: dict[str, Any] = {}
    if view.doi:
        pids["doi"] = {"identifier": view.doi, "provider": "portal", "client": "portal"}
    parent: dict[str, Any] = {"id": str(view.concept_recid)}
    if view.concept_doi:
        parent["pids"] = {"doi": {"identifier": view.concept_doi, "provider": "portal"}}
    body.update(
        is_published=published,
        is_draft=not published,
        revision_id=view.revision,
        parent=parent,
        pids=pids,
        versions={"index": view.version_index, "is_latest": view.is_latest, "is_latest_draft": not published},
        files={"enabled": True, "count": len(view.files)},
    )
    return body


def file_json(recid: int, f: DraftFile, base_url: str) -> dict[str, Any]:
    """One file entry: InvenioRDM's `checksum` ("md5:…", or the catalogue's adler32 for a file carried from the
    previous version) plus `checksums` with adler32 and SHA-256."""
    url = f"{base_url.rstrip('/')}/api/records/{recid}/draft/files/{quote(f.key, safe='')}"
    checksum = f"md5:{f.md5}" if f.md5 else (f.adler32 if f.status == "completed" else None)
    checksums = {k: v for k, v in (("adler32", f.adler32), ("sha256", f.sha256), ("md5", f.md5)) if v}
    out: dict[str, Any] = {
        "key": f.key,
        "status": f.status,
        "size": f.size if f.status == "completed" or f.size is not None else None,
        "received": f.received,
        "checksum": checksum,
        "checksums": checksums,
        "mimetype": "application/octet-stream",
        "storage_class": "L",
        "metadata": None,
        "created": isoformat_utc(f.created) if f.created else None,
        "updated": isoformat_utc(f.updated) if f.updated else None,
        "links": {"self": url, "content": f"{url}/content", "commit": f"{url}/commit"},
    }
    if f.upload_id:
        out["links"]["upload"] = f"{base_url.rstrip('/')}/api/uploads/{f.upload_id}"
    return out


def files_json(recid: int, files: list[DraftFile], base_url: str) -> dict[str, Any]:
    return {
        "enabled": True,
        "links": {"self": f"{base_url.rstrip('/')}/api/records/{recid}/draft/files"},
        "entries": [file_json(recid, f, base_url) for f in files],
        "default_preview": None,
        "order": [],
    }
