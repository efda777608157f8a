"""What a record offers for download, read through the CERN Open Data record API.

Works against the portal and against any server with the same record shape: direct files in
`metadata.files`, file indices in `metadata._file_indices` (expanded with their `files`, as CERN serves them,
or summarised, in which case their entries are read a page at a time from `/api/records/<recid>/files?index=`).
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import requests

Protocol = Literal["https", "root"]
INDEX_TYPES = ("index.json", "index.txt")
PAGE_SIZE = 1000  # entries per page when reading a summarised file index (the portal's largest page)


class ClientError(Exception):
    """The record cannot be listed: no such record or index, the server is unreachable or answers nonsense."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a record: its key (the local path it is saved to), size in bytes and checksum
    (`adler32:<hex>`, `sha256:<hex>`, ... or None when the server gives none), and where to fetch it from."""

    key: str
    size: int | None
    checksum: str | None
    https_url: str
    root_url: str | None
    index: str | None = None  # the file index listing it; None for a direct file of the record

    def url(self, protocol: Protocol) -> str | None:
        """The URL to fetch the file with ``protocol``; None when the server offers none (no `root://` URI)."""
        return self.https_url if protocol == "https" else self.root_url


@dataclass(frozen=True)
class DownloadPlan:
    """The files of record ``recid`` on ``server`` selected for download, in the record's order."""

    server: str
    recid: int
    files: tuple[RemoteFile, ...]

    @property
    def total_bytes(self) -> int:
        """The sum of the known sizes (files of unknown size count 0)."""
        return sum(f.size or 0 for f in self.files)


def list_files(
    server: str,
    recid: int,
    *,
    glob: str | None = None,
    index: str | None = None,
    session: requests.Session | None = None,
    timeout: float = 60,
) -> DownloadPlan:
    """The files of record ``recid``: its direct files and every file index's entries, or only the entries of
    file index ``index``; with ``glob``, only keys matching that shell pattern (`*.root`, `run1/*`).

    Raises:
        ClientError: no such record or file index; the server is unreachable or its answer is not a record.
    """
    base = server.rstrip("/")
    http = session or requests.Session()
    body = _get_json(http, f"{base}/api/records/{recid}", {"file_indices": "summary"}, timeout)
    try:
        md = body["metadata"]
        real_recid = int(body.get("id") or md.get("recid") or recid)  # a concept id answers with its latest version
    except (KeyError, TypeError, ValueError):
        raise ClientError(f"{base}/api/records/{recid} is not a record in the CERN Open Data shape") from None
    indices = [i for i in md.get("_file_indices") or [] if isinstance(i, dict) and i.get("key")]
    files: list[RemoteFile] = []
    if index is None:
        files += [_remote(base, real_recid, f, None) for f in md.get("files") or [] if f.get("type") not in INDEX_TYPES]
    else:
        chosen = [i for i in indices if i["key"] == index]
        if not chosen:
            names = ", ".join(i["key"] for i in indices) or "none"
            raise ClientError(f"record {real_recid} has no file index {index!r} (its file indices: {names})")
        indices = chosen
    for idx in indices:
        entries = (
            idx["files"] if isinstance(idx.get("files"), list) else _index_pages(http, base, real_recid, idx, timeout)
        )
        files += [_remote(base, real_recid, e, idx["key"]) for e in entries]
    if glob:
        files = [f for f in files if fnmatch.fnmatchcase(f.key, glob)]
    return DownloadPlan(base, real_recid, tuple(files))


def _get_json(http: requests.Session, url: str, params: dict[str, Any], timeout: float) -> Any:
    try:
        resp = http.get(url, params=params, headers={"Accept": "application/json"}, timeout=timeout)
    except requests.RequestException as exc:
        raise ClientError(f"cannot reach {url}: {exc}") from None
    if resp.status_code == 404:
        raise ClientError(f"{url}: no such record (HTTP 404)")
    if resp.status_code != 200:
        raise ClientError(f"{url} answered HTTP {resp.status_code}")
    try:
        return resp.json()
    except ValueError:
        raise ClientError(f"{url} did not answer JSON") from None


def _index_pages(
    http: requests.Session, base: str, recid: int, idx: dict[str, Any], timeout: float
) -> Iterator[dict[str, Any]]:
    """The entries of a summarised file index, a page at a time (bounded memory on a million-entry index)."""
    url = f"{base}/api/records/{recid}/files"
    page = 1
    while True:
        body = _get_json(http, url, {"index": idx["key"], "page": page, "size": PAGE_SIZE}, timeout)
        hits = body.get("hits", {})
        items = hits.get("hits") or []
        yield from items
        if not items or page * PAGE_SIZE >= int(hits.get("total", 0)):
            return
        page += 1


def _remote(base: str, recid: int, entry: dict[str, Any], index: str | None) -> RemoteFile:
    uri = str(entry.get("uri") or "")
    key = str(entry.get("key") or entry.get("filename") or posixpath.basename(urlsplit(uri).path))
    # an http(s) URI is fetched as it is; anything else through the server's record file route
    https_url = uri if uri.startswith(("https://", "http://")) else f"{base}/record/{recid}/files/{quote(key)}"
    size = entry.get("size")
    return RemoteFile(
        key=key,
        size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
        checksum=str(entry["checksum"]) if entry.get("checksum") else None,
        https_url=https_url,
        root_url=uri if uri.startswith("root://") else None,
        index=index,
    )
