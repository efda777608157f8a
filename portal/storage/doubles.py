"""Storage doubles for unit tests and failure modes: bytes held in memory, and a storage that is down."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from portal.errors import NotFound, Unavailable
from portal.i18n import N_
from portal.storage.base import StatInfo, adler32_stream, clean_path

if TYPE_CHECKING:
    from portal.settings import Settings


class MemoryStorage:
    """Files held in a dict (path -> bytes); no root:// URLs, no local paths. For unit tests."""

    name = "memory"
    development_only = True

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files = {clean_path(k): v for k, v in (files or {}).items()}

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> MemoryStorage:
        return cls()

    def _bytes(self, path: str) -> bytes:
        try:
            return self.files[clean_path(path)]
        except KeyError:
            raise NotFound(N_("no file {path!r} in storage"), path=path) from None

    def probe(self) -> None:
        return None

    def stat(self, path: str) -> StatInfo:
        return StatInfo(clean_path(path), len(self._bytes(path)), 0.0)

    def open(self, path: str) -> BinaryIO:
        return io.BytesIO(self._bytes(path))

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        return self._bytes(path)[offset : offset + length]

    def walk(self, path: str = "") -> Iterator[str]:
        base = clean_path(path)
        if base in self.files:
            yield base
            return
        found = sorted(p for p in self.files if not base or p.startswith(base + "/"))
        if not found:
            raise NotFound(N_("no directory {path!r} in storage"), path=path)
        yield from found

    def checksum(self, path: str) -> str:
        return adler32_stream(self.open(path))[1]

    def root_url(self, path: str) -> str | None:
        return None

    def local_path(self, path: str) -> str | None:
        return None

    def path_of_url(self, url: str) -> str | None:
        prefix = "memory://"
        return clean_path(url[len(prefix) :]) if url.startswith(prefix) else None


class DownStorage:
    """A storage whose server is unreachable: every read raises Unavailable (503), as XRootD does when down."""

    name = "down"
    development_only = True

    def __init__(self, reason: str = "storage server is down") -> None:
        self.reason = reason

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> DownStorage:
        return cls()

    def _down(self, path: str) -> Unavailable:
        return Unavailable(N_("{path}: {reason}"), path=path, reason=self.reason)

    def probe(self) -> None:
        raise Unavailable(self.reason)

    def stat(self, path: str) -> StatInfo:
        raise self._down(path)

    def open(self, path: str) -> BinaryIO:
        raise self._down(path)

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        raise self._down(path)

    def walk(self, path: str = "") -> Iterator[str]:
        raise self._down(path)

    def checksum(self, path: str) -> str:
        raise self._down(path)

    def root_url(self, path: str) -> str | None:
        return None

    def local_path(self, path: str) -> str | None:
        return None

    def path_of_url(self, url: str) -> str | None:
        return None
