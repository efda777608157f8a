"""Zenodo's legacy deposit API (developers.zenodo.org): its metadata translated to the record schema and back, and
depositions in its JSON shape, so Zenodo clients publish here unchanged. A deposition is a draft (or a published
version); its bucket is the draft's id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from portal.catalog.results import RecordView
from portal.catalog.serialize import isoformat_utc
from portal.deposit.service import DraftFile
from portal.errors import Invalid
from portal.i18n import N_

#: Zenodo's upload types and the record types they become (and back)
UPLOAD_TYPES = {
    "dataset": "Dataset",
    "software": "Software",
    "lesson": "Lesson",
    "publication": "Documentation",
    "other": "Documentation",
}
BACK = {"Dataset": "dataset", "Software": "software", "Lesson": "lesson", "Environment": "software"}


def to_record(zenodo: Any) -> dict[str, Any]:
    """Record metadata from Zenodo's deposition metadata (title, upload_type, description, creators, keywords,
    version, publication_date, license, notes). Refusals name the Zenodo field (``metadata.<name>``)."""
    if not isinstance(zenodo, dict):
        raise Invalid(N_("`metadata` must be an object"), field="metadata")
    upload_type = zenodo.get("upload_type", "dataset")
    if upload_type not in UPLOAD_TYPES:
        raise Invalid(
            N_("upload_type {upload_type!r} is not offered here; use one of {upload_types}"),
            upload_type=upload_type,
            upload_types=", ".join(UPLOAD_TYPES),
            field="metadata.upload_type",
        )
    title = zenodo.get("title")
    if not isinstance(title, str) or len(title.strip()) < 3:
        raise Invalid(N_("give a title of at least 3 characters"), field="metadata.title")
    record: dict[str, Any] = {
        "title": title.strip(),
        "type": {"primary": UPLOAD_TYPES[upload_type]},
        "date_published": zenodo.get("publication_date") or datetime.now(UTC).date().isoformat(),
    }
    if zenodo.get("description"):
        record["abstract"] = {"description": str(zenodo["description"])}
    creators = zenodo.get("creators") or []
    if not isinstance(creators, list) or not all(isinstance(c, dict) and c.get("name") for c in creators):
        raise Invalid(N_("creators is a list of objects, each with a `name`"), field="metadata.creators")
    if creators:
        record["authors"] = [
            {"name": str(c["name"]), **({"affiliation": str(c["affiliation"])} if c.get("affiliation") else {})}
            for c in creators
        ]
    if zenodo.get("keywords"):
        record["keywords"] = [str(k) for k in zenodo["keywords"]]
    if zenodo.get("version"):
        record["version"] = str(zenodo["version"])
    license_id = zenodo.get("license")
    if isinstance(license_id, dict):
        license_id = license_id.get("id")
    if license_id:
        record["license"] = {"attribution": str(license_id)}
    if zenodo.get("notes"):
        record["note"] = {"description": str(zenodo["notes"])}
    return record


def to_zenodo(view: RecordView) -> dict[str, Any]:
    """Zenodo's deposition metadata from a record's."""
    md = view.metadata
    out: dict[str, Any] = {
        "title": md.get("title", ""),
        "upload_type": BACK.get(md.get("type", {}).get("primary", ""), "other"),
        "publication_date": md.get("date_published", ""),
        "description": (md.get("abstract") or {}).get("description", ""),
        "creators": [
            {"name": a.get("name", ""), **({"affiliation": a["affiliation"]} if a.get("affiliation") else {})}
            for a in md.get("authors", [])
        ],
        "access_right": "open",
    }
    for key in ("keywords", "version"):
        if md.get(key):
            out[key] = md[key]
    if (md.get("license") or {}).get("attribution"):
        out["license"] = md["license"]["attribution"]
    if view.doi:
        out["doi"] = view.doi
    out["prereserve_doi"] = {"doi": view.doi or "", "recid": view.recid}
    return out


def deposition_json(view: RecordView, base_url: str, *, latest_draft: int | None = None) -> dict[str, Any]:
    base = base_url.rstrip("/")
    api = f"{base}/api/deposit/depositions/{view.recid}"
    published = view.status == "published"
    links = {
        "self": api,
        "html": f"{base}/record/{view.recid}",
        "bucket": f"{base}/api/files/{view.recid}",
        "files": f"{api}/files",
        "publish": f"{api}/actions/publish",
        "newversion": f"{api}/actions/newversion",
        "discard": f"{api}/actions/discard",
        "edit": f"{api}/actions/edit",
        "latest_draft": f"{base}/api/deposit/depositions/{latest_draft or view.recid}",
        "latest_draft_html": f"{base}/record/{latest_draft or view.recid}",
    }
    if published:
        links["record"] = f"{base}/api/records/{view.recid}"
        links["latest"] = f"{base}/api/records/{view.concept_recid}/versions/latest"
        if view.doi:
            links["doi"] = f"https://doi.org/{view.doi}"
    body: dict[str, Any] = {
        "id": view.recid,
        "record_id": view.recid,
        "conceptrecid": str(view.concept_recid),
        "created": isoformat_utc(view.created_at),
        "modified": isoformat_utc(view.updated_at),
        "owner": view.owner_id,
        "state": "done" if published else "unsubmitted",
        "submitted": published,
        "title": view.metadata.get("title", ""),
        "metadata": to_zenodo(view),
        "links": links,
        "files": [],
    }
    if view.doi:
        body["doi"] = view.doi
        body["doi_url"] = f"https://doi.org/{view.doi}"
    if view.concept_doi:
        body["conceptdoi"] = view.concept_doi
    return body


def file_entry(recid: int, f: DraftFile, base_url: str) -> dict[str, Any]:
    base = base_url.rstrip("/")
    return {
        "id": f.upload_id or f.key,
        "key": f.key,
        "filename": f.key,
        "filesize": f.size if f.size is not None else f.received,
        "size": f.size if f.size is not None else f.received,
        "checksum": f.md5 or (f.adler32 or ""),
        "links": {
            "self": f"{base}/api/files/{recid}/{f.key}",
            "download": f"{base}/api/files/{recid}/{f.key}",
        },
    }
