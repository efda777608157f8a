"""Storage on an XRootD endpoint (an EOS instance, or the portal's own `xrootd` server), via the XRootD bindings."""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from portal.errors import Invalid, NotFound, Unavailable
from portal.i18n import N_
from portal.ops.metrics import XROOTD_ERRORS
from portal.storage.base import StatInfo, adler32_stream, clean_path

if TYPE_CHECKING:
    from portal.settings import Settings

_TIMEOUT = 30  # seconds per XRootD request; the client's own default waits 120 s for a dead server
_PROBE_TIMEOUT = 5  # readiness probes answer within Kubernetes' default probe period

# The XRootD client's reconnection rules (its defaults in brackets). With the defaults, a server that dies and
# comes back is not reconnected to for up to 2 minutes (one attempt per ConnectionWindow), and once 5 windows
# have failed every request fails for 30 minutes (StreamErrorWindow): a restarted server stays unusable to a
# portal that keeps running. These make an outage fail requests within ~15 s and let the portal use the
# server again within seconds of its return. An operator's XRD_<NAME> variable wins over each.
CLIENT_SETTINGS = {
    "ConnectionWindow": 5,  # [120] seconds given to one connection attempt before the next
    "ConnectionRetry": 3,  # [5] attempts before the stream is declared broken
    "StreamErrorWindow": 5,  # [1800] seconds a broken stream fails requests at once before reconnecting
    "TimeoutResolution": 1,  # [15] how often timeouts are checked: our per-request timeouts fire on time
}


@functools.cache
def tune_client() -> None:
    """Apply :data:`CLIENT_SETTINGS` to this process' XRootD client (once; the storage backend and the readers
    of `root://` files share that client, uproot and fsspec-xrootd included)."""
    from XRootD import client

    for name, value in CLIENT_SETTINGS.items():
        if f"XRD_{name.upper()}" not in os.environ:
            client.EnvPutInt(name, value)


def _check(status: Any, what: str) -> None:
    if status.ok:
        return
    if status.errno == 3011 or "No such file" in status.message:
        raise NotFound(N_("{what}: not found on the XRootD server"), what=what)
    XROOTD_ERRORS.labels(str(status.errno)).inc()
    raise Unavailable(
        N_("{what}: XRootD error {status_errno}: {message}"),
        what=what,
        status_errno=status.errno,
        message=status.message.strip(),
    )


class XRootDFile(io.RawIOBase):
    """A seekable, read-only file object over an open XRootD file (what `send_file` and readers need)."""

    def __init__(self, url: str) -> None:
        from XRootD import client

        super().__init__()
        self._file = client.File()
        status, _ = self._file.open(url, timeout=_TIMEOUT)
        _check(status, url)
        status, info = self._file.stat(timeout=_TIMEOUT)
        _check(status, url)
        self.size = int(info.size)
        self._pos = 0
        self.name = url

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), max(self.size - self._pos, 0))
        if want == 0:
            return 0
        status, data = self._file.read(self._pos, want, timeout=_TIMEOUT)
        _check(status, self.name)
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n

    def close(self) -> None:
        if not self.closed:
            self._file.close(timeout=_TIMEOUT)
        super().close()


class XRootDStorage:
    """Paths are relative to ``export`` on the server at ``url`` (`root://host:port`)."""

    name = "xrootd"

    @classmethod
    def from_settings(cls, settings: Settings) -> XRootDStorage:
        if not settings.xrootd_url:
            raise Invalid(N_("the xrootd storage backend needs PORTAL_XROOTD_URL"), field="PORTAL_XROOTD_URL")
        return cls(settings.xrootd_url, settings.xrootd_export)

    def __init__(self, url: str, export: str = "") -> None:
        from XRootD import client

        tune_client()
        self.url = url.rstrip("/")
        self.export = export.strip("/")
        self._fs = client.FileSystem(self.url)

    def _remote(self, path: str) -> str:
        path = clean_path(path)
        return f"/{self.export}/{path}" if self.export else f"/{path}"

    def probe(self) -> None:
        status, _ = self._fs.stat(f"/{self.export}" if self.export else "/", timeout=_PROBE_TIMEOUT)
        _check(status, "the export root")

    def stat(self, path: str) -> StatInfo:
        from XRootD.client.flags import StatInfoFlags

        status, info = self._fs.stat(self._remote(path), timeout=_TIMEOUT)
        _check(status, path)
        if info.flags & StatInfoFlags.IS_DIR:
            raise NotFound(N_("{path!r} is a directory"), path=path)
        return StatInfo(clean_path(path), int(info.size), float(info.modtime))

    def open(self, path: str) -> BinaryIO:
        return io.BufferedReader(XRootDFile(self.url + "/" + self._remote(path)), buffer_size=1 << 20)  # type: ignore[return-value]

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        with self.open(path) as fh:
            fh.seek(offset)
            return fh.read(length)

    def walk(self, path: str = "") -> Iterator[str]:
        from XRootD.client.flags import DirListFlags, StatInfoFlags

        base = clean_path(path)
        status, listing = self._fs.dirlist(self._remote(base), DirListFlags.STAT, timeout=_TIMEOUT)
        if not status.ok:
            yield base  # a file: dirlist fails on it, stat tells
            self.stat(base)
            return
        for entry in sorted(listing, key=lambda e: e.name):
            child = f"{base}/{entry.name}" if base else entry.name
            if entry.statinfo.flags & StatInfoFlags.IS_DIR:
                yield from self.walk(child)
            else:
                yield child

    def checksum(self, path: str) -> str:
        with self.open(path) as fh:
            return adler32_stream(fh)[1]

    def root_url(self, path: str) -> str | None:
        return f"{self.url}/{self._remote(path)}"

    def local_path(self, path: str) -> str | None:
        return None

    def path_of_url(self, url: str) -> str | None:
        prefix = f"{self.url}//{self.export}/" if self.export else f"{self.url}//"
        return clean_path(url[len(prefix) :]) if url.startswith(prefix) else None
