"""A local directory as storage (the embedded default; XRootD, when running, exports the same directory)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from portal.errors import NotFound, Unavailable
from portal.i18n import N_
from portal.storage.base import StatInfo, adler32_stream, clean_path

if TYPE_CHECKING:
    from portal.settings import Settings


class LocalStorage:
    """The data directory (``data_dir``); its ``root://`` URLs point at the XRootD server exporting it, if any."""

    name = "local"

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalStorage:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)  # the portal's own: a fresh one is empty
        return cls(settings.data_dir, xrootd_url=settings.xrootd_url, xrootd_export=settings.xrootd_export)

    def __init__(self, root: str | Path, *, xrootd_url: str = "", xrootd_export: str = "") -> None:
        self.root = Path(root).resolve()
        self.xrootd_url = xrootd_url.rstrip("/")
        self.xrootd_export = xrootd_export.strip("/")

    def _full(self, path: str) -> Path:
        return self.root / clean_path(path)

    def probe(self) -> None:
        if not os.access(self.root, os.R_OK | os.X_OK) or not self.root.is_dir():
            raise Unavailable(N_("the data directory {root} is missing or not readable"), root=self.root)

    def stat(self, path: str) -> StatInfo:
        full = self._full(path)
        try:
            st = full.stat()
        except FileNotFoundError:
            raise NotFound(N_("no file {path!r} in storage"), path=path) from None
        if not full.is_file():
            raise NotFound(N_("{path!r} is not a file"), path=path)
        return StatInfo(clean_path(path), st.st_size, st.st_mtime)

    def open(self, path: str) -> BinaryIO:
        try:
            return self._full(path).open("rb")
        except (FileNotFoundError, IsADirectoryError):
            raise NotFound(N_("no file {path!r} in storage"), path=path) from None

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        with self.open(path) as fh:
            fh.seek(offset)
            return fh.read(length)

    def walk(self, path: str = "") -> Iterator[str]:
        base = self._full(path)
        if base.is_file():
            yield clean_path(path)
            return
        if not base.is_dir():
            raise NotFound(N_("no directory {path!r} in storage"), path=path)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                yield (Path(dirpath) / name).relative_to(self.root).as_posix()

    def checksum(self, path: str) -> str:
        with self.open(path) as fh:
            return adler32_stream(fh)[1]

    def root_url(self, path: str) -> str | None:
        if not self.xrootd_url:
            return None
        export = f"/{self.xrootd_export}" if self.xrootd_export else ""
        return f"{self.xrootd_url}/{export}/{clean_path(path)}"

    def local_path(self, path: str) -> str | None:
        return str(self._full(path))

    def path_of_url(self, url: str) -> str | None:
        """The storage path a `root://` URL of this storage (or a file path under the root) points to."""
        if self.xrootd_url and url.startswith(self.xrootd_url + "/"):
            rest = url[len(self.xrootd_url) :].lstrip("/")
            if self.xrootd_export:
                if not rest.startswith(self.xrootd_export + "/"):
                    return None
                rest = rest[len(self.xrootd_export) + 1 :]
            return clean_path(rest)
        if url.startswith("file://"):
            url = url[len("file://") :]
        candidate = Path(url)
        if candidate.is_absolute():
            try:
                return candidate.resolve().relative_to(self.root).as_posix()
            except ValueError:
                return None
        return None
