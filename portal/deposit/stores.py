"""The upload-store seam (``portal.upload_stores``, setting ``upload_store``): where deposit bytes stream to before
publication, and how they are placed into the catalogue's storage when the draft is published.

An upload is addressed by an opaque id (letters, digits). Writes only ever append at the current end, so an
interrupted upload keeps what arrived and resumes from its size (tus); nothing in a store is visible to readers
of the catalogue until publication copies it into the catalogue's storage.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from portal.errors import Invalid, NoSpace, NotFound, Unavailable, is_no_space
from portal.i18n import N_
from portal.storage.base import BLOCK

if TYPE_CHECKING:
    from portal.settings import Settings
    from portal.storage.base import Storage

_ID = re.compile(r"[A-Za-z0-9]{8,64}")
_TIMEOUT = 60  # seconds per XRootD request


def check_id(upload_id: str) -> str:
    if not _ID.fullmatch(upload_id):
        raise NotFound(N_("there is no upload {upload_id!r}"), upload_id=upload_id, field="upload")
    return upload_id


class UploadStore(Protocol):
    """Partial and complete uploads, each a byte string that only grows at its end until it is deleted."""

    name: str

    def create(self, upload_id: str) -> None:
        """Start an empty upload (an existing one is emptied)."""
        ...

    def size(self, upload_id: str) -> int:
        """Bytes stored so far; raises NotFound."""
        ...

    def append(self, upload_id: str, offset: int, chunks: Iterable[bytes]) -> int:
        """Write ``chunks`` at ``offset`` (the current size, or 0 to start again: bytes past it are dropped) and
        return the new size. When ``chunks`` raises, what was written before stays (the client resumes from it)."""
        ...

    def truncate(self, upload_id: str, size: int) -> None:
        """Drop the bytes past ``size`` (a refused chunk)."""
        ...

    def open(self, upload_id: str) -> BinaryIO:
        """The bytes, for reading; raises NotFound."""
        ...

    def delete(self, upload_id: str) -> None:
        """Remove an upload; a missing one is not an error."""
        ...

    def uploads(self) -> Iterator[tuple[str, float]]:
        """Every upload as (id, time of its last write, epoch seconds)."""
        ...

    def place(self, upload_id: str, storage: Storage, path: str) -> None:
        """Copy the upload to ``path`` of the catalogue's ``storage`` (written under a temporary name, then
        renamed, so a reader never sees part of it). The upload itself stays until deleted."""
        ...


class LocalUploadStore:
    """A directory (``upload_dir``, under var by default): one file per upload."""

    name = "local"

    @classmethod
    def from_settings(cls, settings: Settings, **_deps: Any) -> LocalUploadStore:
        return cls(settings.upload_dir)

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, upload_id: str) -> Path:
        return self.root / check_id(upload_id)

    def create(self, upload_id: str) -> None:
        self._path(upload_id).write_bytes(b"")

    def size(self, upload_id: str) -> int:
        try:
            return self._path(upload_id).stat().st_size
        except FileNotFoundError:
            raise NotFound(
                N_("upload {upload_id} has no bytes in the store"), upload_id=upload_id, field="upload"
            ) from None

    def append(self, upload_id: str, offset: int, chunks: Iterable[bytes]) -> int:
        path = self._path(upload_id)
        try:
            with open(path, "r+b" if path.exists() else "w+b") as fh:
                fh.truncate(offset)
                fh.seek(offset)
                try:
                    for chunk in chunks:
                        fh.write(chunk)
                finally:
                    fh.flush()
                return fh.tell()
        except OSError as exc:
            if not is_no_space(exc):
                raise
            # The disk filled up mid-chunk: what of this chunk landed is dropped (it frees that space, and the
            # upload stays at the offset the client last had confirmed, from where it resumes).
            with suppress(OSError):
                os.truncate(path, offset)
            raise NoSpace(
                N_("no space left in the upload store ({reason}); the chunk was dropped, retry once space is freed"),
                reason=exc.strerror or str(exc),
                field="upload",
            ) from exc

    def truncate(self, upload_id: str, size: int) -> None:
        with open(self._path(upload_id), "r+b") as fh:
            fh.truncate(size)

    def open(self, upload_id: str) -> BinaryIO:
        try:
            return open(self._path(upload_id), "rb")
        except FileNotFoundError:
            raise NotFound(
                N_("upload {upload_id} has no bytes in the store"), upload_id=upload_id, field="upload"
            ) from None

    def delete(self, upload_id: str) -> None:
        self._path(upload_id).unlink(missing_ok=True)

    def uploads(self) -> Iterator[tuple[str, float]]:
        for entry in os.scandir(self.root):
            if entry.is_file() and _ID.fullmatch(entry.name):
                yield entry.name, entry.stat().st_mtime

    def place(self, upload_id: str, storage: Storage, path: str) -> None:
        target = storage.local_path(path)
        if target is not None:
            tmp = Path(target + ".part")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.unlink(missing_ok=True)
            try:
                try:
                    os.link(self._path(upload_id), tmp)  # same file system: no copy (published bytes never change)
                except OSError:
                    with self.open(upload_id) as src, open(tmp, "wb") as dst:
                        _copy(src, dst.write)
                os.replace(tmp, target)
            except OSError as exc:
                tmp.unlink(missing_ok=True)  # never leave partial bytes in the catalogue's storage
                if is_no_space(exc):
                    raise NoSpace(
                        N_("no space left in the catalogue's storage for {path} ({reason})"),
                        path=path,
                        reason=exc.strerror or str(exc),
                        field="storage",
                    ) from exc
                raise
            return
        with self.open(upload_id) as src:
            _write_xrootd(storage, path, src)


class XRootDUploadStore:
    """Uploads written with the XRootD client under ``upload_xrootd_url`` (an EOS or XRootD directory)."""

    name = "xrootd"

    @classmethod
    def from_settings(cls, settings: Settings, **_deps: Any) -> XRootDUploadStore:
        url = settings.upload_xrootd_url
        if not url:
            if not settings.xrootd_url:
                raise Invalid(
                    N_("the xrootd upload store needs PORTAL_UPLOAD_XROOTD_URL (or PORTAL_XROOTD_URL)"),
                    field="PORTAL_UPLOAD_XROOTD_URL",
                )
            url = settings.xrootd_url.rstrip("/") + "//uploads"
        return cls(url)

    def __init__(self, url: str) -> None:
        from XRootD import client

        if not url.startswith(("root://", "xroot://")) or "//" not in url.split("://", 1)[1]:
            raise Invalid(N_("give the upload store as root://host:port//path"), field="PORTAL_UPLOAD_XROOTD_URL")
        server, directory = url.split("://", 1)[1].split("//", 1)
        self.server = url.split("://", 1)[0] + "://" + server
        self.directory = "/" + directory.strip("/")
        self._fs = client.FileSystem(self.server)

    def _url(self, upload_id: str) -> str:
        return f"{self.server}/{self.directory}/{check_id(upload_id)}"

    def _open(self, upload_id: str, flags: int) -> Any:
        from XRootD import client

        fh = client.File()
        status, _ = fh.open(self._url(upload_id), flags, _mode(), timeout=_TIMEOUT)
        if not status.ok:
            raise Unavailable(
                N_("upload store: cannot open upload {upload_id}: {message}"),
                upload_id=upload_id,
                message=status.message.strip(),
            )
        return fh

    def create(self, upload_id: str) -> None:
        from XRootD.client.flags import OpenFlags

        self._open(upload_id, OpenFlags.DELETE | OpenFlags.MAKEPATH).close(timeout=_TIMEOUT)

    def size(self, upload_id: str) -> int:
        status, info = self._fs.stat(f"{self.directory}/{check_id(upload_id)}", timeout=_TIMEOUT)
        if not status.ok:
            raise NotFound(N_("upload {upload_id} has no bytes in the store"), upload_id=upload_id, field="upload")
        return int(info.size)

    def append(self, upload_id: str, offset: int, chunks: Iterable[bytes]) -> int:
        from XRootD.client.flags import OpenFlags

        fh = self._open(upload_id, OpenFlags.UPDATE)
        try:
            status, _ = fh.truncate(offset, timeout=_TIMEOUT)
            _ok(status, upload_id)
            position = offset
            for chunk in chunks:
                status, _ = fh.write(chunk, position, timeout=_TIMEOUT)
                _ok(status, upload_id)
                position += len(chunk)
            return position
        finally:
            fh.sync(timeout=_TIMEOUT)
            fh.close(timeout=_TIMEOUT)

    def truncate(self, upload_id: str, size: int) -> None:
        from XRootD.client.flags import OpenFlags

        fh = self._open(upload_id, OpenFlags.UPDATE)
        try:
            status, _ = fh.truncate(size, timeout=_TIMEOUT)
            _ok(status, upload_id)
        finally:
            fh.close(timeout=_TIMEOUT)

    def open(self, upload_id: str) -> BinaryIO:
        from portal.storage.xrootd import XRootDFile

        self.size(upload_id)  # NotFound for a missing upload, as the protocol says
        return XRootDFile(self._url(upload_id))  # type: ignore[return-value]

    def delete(self, upload_id: str) -> None:
        self._fs.rm(f"{self.directory}/{check_id(upload_id)}", timeout=_TIMEOUT)

    def uploads(self) -> Iterator[tuple[str, float]]:
        from XRootD.client.flags import DirListFlags

        status, listing = self._fs.dirlist(self.directory, DirListFlags.STAT, timeout=_TIMEOUT)
        if not status.ok:
            return
        for entry in listing:
            if _ID.fullmatch(entry.name):
                yield entry.name, float(entry.statinfo.modtime)

    def place(self, upload_id: str, storage: Storage, path: str) -> None:
        with self.open(upload_id) as src:
            target = storage.local_path(path)
            if target is None:
                _write_xrootd(storage, path, src)
                return
            tmp = Path(target + ".part")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as dst:
                _copy(src, dst.write)
            os.replace(tmp, target)


def _mode() -> int:
    """The mode of new files on the server: rw-r--r--."""
    from XRootD.client.flags import AccessMode

    return int(AccessMode.UR | AccessMode.UW | AccessMode.GR | AccessMode.OR)


def _ok(status: Any, upload_id: str) -> None:
    if not status.ok:
        raise Unavailable(
            N_("upload store: writing upload {upload_id} failed: {message}"),
            upload_id=upload_id,
            message=status.message.strip(),
        )


def _copy(src: BinaryIO, write: Any) -> None:
    while True:
        block = src.read(BLOCK)
        if not block:
            return
        write(block)


def _write_xrootd(storage: Storage, path: str, src: BinaryIO) -> None:
    """Write ``src`` to ``path`` of a storage served by XRootD (a temporary name, then a rename)."""
    from XRootD import client
    from XRootD.client.flags import OpenFlags

    url = storage.root_url(path)
    if url is None:
        raise Unavailable(
            N_("the catalogue's storage {storage_name!r} can neither be written locally nor over XRootD"),
            storage_name=storage.name,
        )
    server, remote = url.split("://", 1)[1].split("//", 1)
    server = url.split("://", 1)[0] + "://" + server
    fh = client.File()
    status, _ = fh.open(url + ".part", OpenFlags.DELETE | OpenFlags.MAKEPATH, _mode(), timeout=_TIMEOUT)
    _ok(status, path)
    try:
        position = 0
        while True:
            block = src.read(BLOCK)
            if not block:
                break
            status, _ = fh.write(block, position, timeout=_TIMEOUT)
            _ok(status, path)
            position += len(block)
    finally:
        fh.close(timeout=_TIMEOUT)
    status, _ = client.FileSystem(server).mv(f"/{remote}.part", f"/{remote}", timeout=_TIMEOUT)
    _ok(status, path)


def unplace(storage: Storage, path: str) -> None:
    """Remove a file placed by :meth:`UploadStore.place` when its publication failed (best effort)."""
    target = storage.local_path(path)
    if target is not None:
        Path(target).unlink(missing_ok=True)
        return
    url = storage.root_url(path)
    if url is not None:
        from XRootD import client

        server, remote = url.split("://", 1)[1].split("//", 1)
        client.FileSystem(url.split("://", 1)[0] + "://" + server).rm(f"/{remote}", timeout=_TIMEOUT)


def older_than(mtime: float, seconds: float) -> bool:
    return time.time() - mtime > seconds
