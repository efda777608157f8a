"""Reading catalogued files for HTTP: locating bytes in storage, file-index documents and zip packs."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from zipstream import ZipStream

from portal.catalog.service import CatalogService
from portal.errors import Invalid, NotFound
from portal.i18n import N_
from portal.storage.base import BLOCK, Storage


@dataclass(frozen=True)
class Located:
    recid: int
    key: str
    filename: str
    path: str  # storage path
    size: int
    checksum: str | None
    local_path: str | None
    restricted: bool = False  # the bytes are in the restricted directory (never behind the public export)

    @property
    def etag(self) -> str:
        # Strong validator: a published file never changes, and checksum + size identify its bytes.
        token = (self.checksum or "nochecksum").replace(":", "-")
        return f"{token}-{self.size}"


@dataclass(frozen=True)
class Pack:
    name: str
    stream: ZipStream
    files: list[Located]

    @property
    def size(self) -> int:
        return len(self.stream)


class FileAccess:
    def __init__(
        self,
        catalog: CatalogService,
        storage: Storage,
        *,
        pack_max_files: int = 10_000,
        restricted: Storage | None = None,
    ) -> None:
        self.catalog = catalog
        self.storage = storage
        #: where restricted and embargoed bytes are kept (same relative paths); callers check access first
        self.restricted = restricted
        self.pack_max_files = pack_max_files

    def _side(self, path: str) -> tuple[Storage, bool]:
        """The storage holding ``path`` now: the restricted directory when the file was placed there."""
        if self.restricted is not None:
            try:
                self.restricted.stat(path)
                return self.restricted, True
            except NotFound:
                pass
        return self.storage, False

    def _locate_row(self, recid: int, row: dict[str, Any]) -> Located:
        uri = row.get("uri") or ""
        path = self.storage.path_of_url(uri) if uri else None
        if path is None:
            raise NotFound(
                N_(
                    "the portal holds no copy of {key!r}; it is stored at "
                    "{uri} — read it from there (e.g. with xrdcp or "
                    "uproot over root://)"
                ),
                key=row["key"],
                uri=uri or "an unknown place",
                record=recid,
            )
        storage, restricted = self._side(path)
        stat = storage.stat(path)
        return Located(
            recid=recid,
            key=row["key"],
            filename=row.get("filename") or row["key"].rsplit("/", 1)[-1],
            path=path,
            size=stat.size,
            checksum=row.get("checksum"),
            local_path=storage.local_path(path),
            restricted=restricted,
        )

    def readable_uri(self, uri: str) -> str:
        """Where to read a catalogue URI's bytes: the local path in the restricted directory for a restricted
        file (its public root:// URI does not serve it), else the URI itself. Callers check access first."""
        path = self.storage.path_of_url(uri) if self.restricted is not None else None
        if path is None or self.restricted is None:
            return uri
        storage, restricted = self._side(path)
        return (storage.local_path(path) or uri) if restricted else uri

    def locate(self, recid: int, key: str) -> Located:
        """Where the bytes of file ``key`` of record ``recid`` are. Raises NotFound with what to do instead."""
        return self._locate_row(recid, self.catalog.get_file(recid, key))

    def open(self, located: Located) -> BinaryIO:
        return (self.restricted if located.restricted and self.restricted else self.storage).open(located.path)

    # ------------------------------------------------------------ file indices
    def index_json(self, recid: int, key: str) -> Iterator[str]:
        """CERN's `*_file_index.json`: a JSON array of {checksum, filename, size, uri}, streamed."""
        entries = self.catalog.iter_index_entries(recid, key)
        first = next(entries, None)  # raises NotFound before the response starts
        yield "["
        if first is not None:
            yield json.dumps(_index_entry(first))
            for entry in entries:
                yield "," + json.dumps(_index_entry(entry))
        yield "]"

    def index_txt(self, recid: int, key: str) -> Iterator[str]:
        """CERN's `*_file_index.txt`: one URI per line, streamed."""
        entries = self.catalog.iter_index_entries(recid, key)
        first = next(entries, None)
        if first is not None:
            yield first.get("uri", "") + "\n"
            for entry in entries:
                yield entry.get("uri", "") + "\n"

    # ------------------------------------------------------------------ packs
    def select(
        self, recid: int, *, index: str | None = None, pattern: str | None = None, keys: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """File rows of one selection: a whole file index, a glob over the record's files, or named keys."""
        chosen = [x for x in (index, pattern, keys) if x]
        if len(chosen) != 1:
            raise Invalid(N_("choose exactly one of index=KEY, glob=PATTERN or files=KEY,KEY,…"), field="selection")
        limit = self.pack_max_files
        if keys:
            if len(keys) > limit:
                raise Invalid(N_("at most {limit} files per pack"), limit=limit, field="files")
            return [self.catalog.get_file(recid, k) for k in keys]
        rows: list[dict[str, Any]] = []
        after = -1
        while True:
            page, after_next = self.catalog.find_files(recid, index_key=index, pattern=pattern, after=after, size=1000)
            rows.extend(r for r in page if pattern is None or fnmatch.fnmatchcase(r["key"], pattern))
            if len(rows) > limit:
                raise Invalid(
                    N_("the selection has more than {limit} files; narrow it"), limit=limit, field="selection"
                )
            if after_next is None:
                break
            after = after_next
        if not rows:
            raise NotFound(N_("the selection matches no file"), record=recid, field="selection")
        return rows

    def pack(self, recid: int, rows: list[dict[str, Any]], name: str) -> Pack:
        """A stored (uncompressed) zip of ``rows`` plus a MANIFEST; its exact size is known before streaming."""
        for row in rows:
            _check_member(str(row["key"]))
        located = [self._locate_row(recid, r) for r in rows]
        stream = ZipStream(sized=True)
        manifest = ["# size  checksum  path", *(f"{f.size}  {f.checksum or '-'}  {f.key}" for f in located)]
        stream.add("\n".join(manifest) + "\n", arcname="MANIFEST")
        for f in located:
            if f.local_path:
                stream.add_path(f.local_path, arcname=f.key)
            else:
                stream.add(self._blocks(f), arcname=f.key, size=f.size)
        return Pack(name=name, stream=stream, files=located)

    def _blocks(self, f: Located) -> Iterator[bytes]:
        with self.open(f) as fh:
            while block := fh.read(BLOCK):
                yield block


def _check_member(key: str) -> None:
    """Refuse a file key that would make an unsafe zip member: one that climbs out of the folder it is
    unpacked in (`..`), is absolute, or carries a drive letter or a NUL (zip slip)."""
    parts = key.replace("\\", "/").split("/")
    if not key or key.startswith(("/", "\\")) or ".." in parts or "\x00" in key or (len(key) > 1 and key[1] == ":"):
        raise Invalid(
            N_("the file key {key!r} cannot be a member of a zip (absolute or climbing out)"), key=key, field="files"
        )


def _index_entry(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "checksum": entry.get("checksum"),
        "filename": entry.get("filename"),
        "size": entry.get("size"),
        "uri": entry.get("uri"),
    }
