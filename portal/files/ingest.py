"""Ingest: walk a storage path, checksum and size every file in one streaming pass, identify the format
from the content, inspect it, and give the catalogue file rows and a distribution summary.

Nothing is written to the catalogue here; :meth:`CatalogService.ingest_files` stores the result in one
transaction, so a failed ingest leaves the record as it was.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from portal.errors import PortalError
from portal.i18n import N_
from portal.storage.base import BLOCK, Storage

if TYPE_CHECKING:
    from portal.catalog.model import IndexSpec
    from portal.formats.collection import Formats


@dataclass
class IngestedFile:
    path: str
    size: int
    checksum: str
    format: str
    entries: int | None
    inspection: dict[str, Any]
    uri: str


@dataclass
class IngestReport:
    """Good files in ``files``, damaged ones in ``errors`` as (path, reason). ``event_formats`` are the formats
    whose entries are events (the processable ones), counted in the distribution's ``number_events``."""

    files: list[IngestedFile] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    event_formats: tuple[str, ...] = ()

    def distribution(self) -> dict[str, Any]:
        """CERN's `distribution`: formats, number_events, number_files, size.

        The same events are often published in several formats; number_events counts them once, as the
        largest per-format total.
        """
        per_format: dict[str, int] = defaultdict(int)
        for f in self.files:
            if f.entries is not None and f.format in self.event_formats:
                per_format[f.format] += f.entries
        out: dict[str, Any] = {
            "formats": sorted({f.format for f in self.files}),
            "number_files": len(self.files),
            "size": sum(f.size for f in self.files),
        }
        if per_format:
            out["number_events"] = max(per_format.values())
        return out

    def file_rows(self, prefix: str = "") -> list[dict[str, Any]]:
        return [
            {
                "key": f.path[len(prefix) :].lstrip("/") if prefix and f.path.startswith(prefix) else f.path,
                "uri": f.uri,
                "size": f.size,
                "checksum": f.checksum,
                "type": f.format,
                "format": f.format,
                "entries": f.entries,
                "inspection": f.inspection,
            }
            for f in self.files
        ]


@dataclass(frozen=True)
class Scan:
    """What one streaming pass over a file gives: its size (bytes), `adler32:<8 hex>`, its first 8 KiB and its
    last 4 bytes (for sniffing)."""

    size: int
    checksum: str
    head: bytes
    tail: bytes


def scan(storage: Storage, path: str) -> Scan:
    """Size, adler32, head and tail in one pass over the file, in fixed-size blocks (bounded memory)."""
    value, size = 1, 0
    head = b""
    tail = b""
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    with storage.open(path) as fh:
        while True:
            n = fh.readinto(view)  # type: ignore[attr-defined]
            if not n:
                break
            if size == 0:
                head = bytes(view[: min(n, 8192)])
            value = zlib.adler32(view[:n], value)
            size += n
            tail = bytes(view[max(0, n - 4) : n]) if n >= 4 else (tail + bytes(view[:n]))[-4:]
    return Scan(size, f"adler32:{value & 0xFFFFFFFF:08x}", head, tail)


class Ingester:
    """Walks storage and describes every file: checksum and size, the format from the content (through
    ``formats``), and that format's summary."""

    def __init__(self, formats: Formats) -> None:
        self.formats = formats

    def checksum_and_sniff(self, storage: Storage, path: str) -> tuple[int, str, str]:
        """(size, adler32, format or content kind) in one pass over the file."""
        found = scan(storage, path)
        return found.size, found.checksum, self.formats.sniff(found.head, found.tail)

    def ingest_path(
        self, storage: Storage, path: str = "", *, progress: Callable[[str, int], None] | None = None
    ) -> IngestReport:
        """Every file below ``path``: good ones in ``files``, damaged ones in ``errors`` with the reason (a file
        whose name promises another format than its content is damaged too)."""
        report = IngestReport(event_formats=tuple(f.name for f in self.formats.processable))
        for rel in storage.walk(path):
            try:
                size, checksum, fmt = self.checksum_and_sniff(storage, rel)
                promised = self.formats.for_path(rel)
                if promised is not None and not self.formats.agrees(rel, fmt):
                    raise ValueError(f"named like a {promised.name} file but its content is {fmt}")
                source = storage.local_path(rel) or storage.root_url(rel) or rel
                info = self.formats.inspect(source, fmt, size)
                uri = storage.root_url(rel) or f"file://{storage.local_path(rel)}"
                report.files.append(IngestedFile(rel, size, checksum, fmt, info.get("entries"), dict(info), uri))
            except PortalError as exc:
                report.errors.append((rel, exc.detail))
            except (OSError, ValueError) as exc:
                report.errors.append((rel, str(exc)))
            if progress:
                progress(rel, len(report.files) + len(report.errors))
        return report


def resolve_target(storage: Storage, target: str) -> tuple[Storage, str]:
    """The storage and path to walk for `portal ingest`'s PATH_OR_URL.

    A path relative to the portal's storage, or a `root://` / `file://` URL or absolute path that the
    portal's storage holds, walks that storage (so file rows get its public URIs). Any other `root://`
    URL walks that XRootD server directly, any other absolute directory a local storage rooted there.
    """
    from urllib.parse import urlsplit

    from portal.errors import Invalid

    if target.startswith(("root://", "xroot://")):
        inside = storage.path_of_url(target)
        if inside is not None:
            return storage, inside
        parts = urlsplit(target)
        if not parts.netloc:
            raise Invalid(N_("a root:// URL needs a host: root://host:port//path"), source=target)
        from portal.storage.xrootd import XRootDStorage

        return XRootDStorage(f"{parts.scheme}://{parts.netloc}"), parts.path.lstrip("/")
    if target.startswith("file://"):
        target = target[len("file://") :]
    elif "://" in target:
        raise Invalid(N_("only local paths, file:// and root:// URLs can be ingested"), source=target)
    if not target.startswith("/"):
        return storage, target
    inside = storage.path_of_url(f"file://{target}")
    if inside is not None:
        return storage, inside
    import os

    from portal.storage.local import LocalStorage

    if not os.path.exists(target):
        raise Invalid(N_("no such file or directory"), source=target)
    if os.path.isfile(target):
        folder, name = os.path.split(target)
        return LocalStorage(folder), name
    return LocalStorage(target), ""


def write_file_index(
    storage: Storage, folder: str, key: str, rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], IndexSpec]:
    """Write CERN-style `<key>_file_index.json` and `.txt` into ``folder`` of a local storage.

    Returns the two index files as file rows and the index (its entries are ``rows``) for the catalogue.
    Files are written under a temporary name and renamed, so a reader never sees half an index.
    """
    import contextlib
    import json
    import os

    from portal.catalog.model import IndexSpec
    from portal.errors import Invalid, NoSpace, Unavailable, is_no_space

    base = storage.local_path(folder)
    if base is None:
        raise Invalid(N_("file indices can only be written to a local storage directory"), field="--write-index")
    name = f"{key}_file_index"
    entries = [
        {"checksum": r["checksum"], "filename": r["key"].rsplit("/", 1)[-1], "size": r["size"], "uri": r["uri"]}
        for r in rows
    ]
    written: list[dict[str, Any]] = []
    for suffix, text in ((".json", json.dumps(entries, indent=1)), (".txt", "".join(e["uri"] + "\n" for e in entries))):
        target = os.path.join(base, name + suffix)
        tmp = target + ".part"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, target)
        except OSError as exc:
            # A full disk (ENOSPC) or a quota leaves a partial .part behind: remove it, and the first index if
            # the second could not be written, so a failed ingest leaves the storage as it found it.
            for partial in (tmp, *(os.path.join(base, w["key"]) for w in written)):
                with contextlib.suppress(OSError):
                    os.remove(partial)
            raise (NoSpace if is_no_space(exc) else Unavailable)(
                N_("could not write the file index {index_name}: {reason}"),
                index_name=name + suffix,
                reason=exc.strerror or exc,
                field="--write-index",
            ) from exc
        rel = f"{folder}/{name}{suffix}" if folder else name + suffix
        found = scan(storage, rel)
        size, checksum = found.size, found.checksum
        written.append(
            {
                "key": name + suffix,
                "uri": storage.root_url(rel) or f"file://{target}",
                "size": size,
                "checksum": checksum,
                "type": "index" + suffix,
                "description": f"File index of {len(entries)} file(s)",
            }
        )
    return written, IndexSpec(key=name, description=f"{len(entries)} file(s)", uri=written[0]["uri"], entries=rows)
