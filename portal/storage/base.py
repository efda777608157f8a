"""The storage interface every backend implements, and the streaming adler32 they share."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from portal.i18n import N_

BLOCK = 8 * 1024 * 1024  # read size for checksums and copies: large enough to run at disk/network speed


@dataclass(frozen=True)
class StatInfo:
    path: str
    size: int
    mtime: float


class Storage(Protocol):
    """Files addressed by POSIX-style paths relative to the storage root (no leading slash)."""

    name: str

    def probe(self) -> None:
        """Raise Unavailable when the storage cannot serve reads now (readiness checks call this often:
        it must be cheap and bounded in time)."""
        ...

    def stat(self, path: str) -> StatInfo:
        """Size and modification time; raises NotFound."""
        ...

    def open(self, path: str) -> BinaryIO:
        """A seekable binary file object; raises NotFound."""
        ...

    def read_range(self, path: str, offset: int, length: int) -> bytes: ...

    def walk(self, path: str = "") -> Iterator[str]:
        """Every file below ``path``, sorted, as paths relative to the root."""
        ...

    def checksum(self, path: str) -> str:
        """`adler32:<8 hex>` of the whole file, computed in one streaming pass."""
        ...

    def root_url(self, path: str) -> str | None:
        """The `root://host:port//path` URL clients stream from, when XRootD serves this storage."""
        ...

    def local_path(self, path: str) -> str | None:
        """A filesystem path, when the bytes are on a local disk (lets the web server use sendfile)."""
        ...

    def path_of_url(self, url: str) -> str | None:
        """The storage path a catalogue URI points to, or None when this storage does not hold it."""
        ...


def adler32_stream(fh: BinaryIO, block: int = BLOCK) -> tuple[int, str]:
    """(size, `adler32:xxxxxxxx`) of a file object read to its end in fixed-size blocks (bounded memory)."""
    value = 1
    size = 0
    buffer = bytearray(block)
    view = memoryview(buffer)
    while True:
        n = fh.readinto(view)  # type: ignore[attr-defined]
        if not n:
            break
        value = zlib.adler32(view[:n], value)
        size += n
    return size, f"adler32:{value & 0xFFFFFFFF:08x}"


def clean_path(path: str) -> str:
    """Normalise a relative storage path and refuse escapes (`..`) and absolute paths."""
    from portal.errors import Invalid

    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise Invalid(N_("path {path!r} leaves the storage root"), path=path, field="path")
    return "/".join(parts)
