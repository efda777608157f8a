"""Parallel, resumable, verified downloads of a :class:`~portal.client.records.DownloadPlan`.

Each file is written to `<out>/<key>.part` and renamed to `<out>/<key>` only once its size and checksum are
right, so a complete-looking file is a verified one. A `.part` left by an interrupted run is resumed (HTTP
Range from its length, or a `root://` read from that offset) after its bytes are fed to the checksum; a
complete file already present is checked (size, then checksum, streamed) and skipped, or refetched when it is
damaged. Checksums (adler32, or any hashlib algorithm such as sha256) are computed while the bytes stream by,
in fixed-size blocks: no file is ever held in memory.
"""

from __future__ import annotations

import hashlib
import os
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Protocol

import requests

from portal.client.records import DownloadPlan, RemoteFile
from portal.client.records import Protocol as Transport

BLOCK = 1 << 20  # bytes per read and write
Status = Literal["downloaded", "resumed", "skipped", "failed"]


class TransferError(Exception):
    """A file could not be fetched or did not verify; the message says why."""


class Progress(Protocol):
    """Receives byte counts from the download threads (must be thread-safe)."""

    def advance(self, n: int) -> None:
        """``n`` more bytes were fetched."""

    def discount(self, n: int) -> None:
        """``n`` bytes of the plan need no fetching (already on disk)."""


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file: `downloaded` (from its first byte), `resumed` (from a `.part`), `skipped`
    (already complete and verified) or `failed` (``error`` says why); ``fetched`` bytes came over the network."""

    key: str
    status: Status
    fetched: int = 0
    error: str | None = None
    refetched: bool = False  # a complete-looking local copy was damaged and was fetched again


@dataclass(frozen=True)
class DownloadReport:
    outcomes: tuple[FileOutcome, ...]

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def fetched(self) -> int:
        return sum(o.fetched for o in self.outcomes)


class Checksum:
    """A running checksum for a `algorithm:hex` value (adler32 or a hashlib algorithm); ``known`` is False for
    no checksum or an algorithm this machine lacks, and then only sizes are checked."""

    def __init__(self, expected: str | None) -> None:
        algorithm, _, value = (expected or "").partition(":")
        self.algorithm = algorithm.lower().replace("-", "")
        self.expected = value.strip().lower()
        self._adler = 1
        self._hash: Any = None
        self.reset()
        self.known = bool(self.expected) and (self.algorithm == "adler32" or self._hash is not None)

    def reset(self) -> None:
        """Start over, as for an empty file."""
        self._adler = 1
        if self.algorithm not in ("", "adler32") and self.algorithm in hashlib.algorithms_available:
            self._hash = hashlib.new(self.algorithm)

    def update(self, data: bytes) -> None:
        if self._hash is not None:
            self._hash.update(data)
        elif self.algorithm == "adler32":
            self._adler = zlib.adler32(data, self._adler)

    def hexdigest(self) -> str:
        return self._hash.hexdigest() if self._hash is not None else f"{self._adler & 0xFFFFFFFF:08x}"

    def matches(self) -> bool:
        if not self.known:
            return True
        if self.algorithm == "adler32":  # some servers drop leading zeros
            try:
                return int(self.expected, 16) == self._adler & 0xFFFFFFFF
            except ValueError:
                return False
        return self.hexdigest() == self.expected

    def feed_file(self, path: Path) -> int:
        """Add the bytes of ``path`` (read in blocks); returns its length."""
        n = 0
        with path.open("rb") as fh:
            while block := fh.read(BLOCK):
                self.update(block)
                n += len(block)
        return n


def local_path(out: Path, key: str) -> Path:
    """Where file ``key`` is saved under ``out``; a key that would escape ``out`` is refused."""
    parts = PurePosixPath(key).parts
    if not parts or key.startswith("/") or any(p in ("..", ".") for p in parts):
        raise TransferError(f"unsafe file key {key!r}")
    return out.joinpath(*parts)


def download(
    plan: DownloadPlan,
    out: Path,
    *,
    protocol: Transport = "https",
    parallel: int = 4,
    progress: Progress | None = None,
    timeout: float = 60,
) -> DownloadReport:
    """Fetch every file of ``plan`` into ``out`` with ``parallel`` threads; never raises for one file's failure
    (its outcome says it failed and why)."""
    sink = progress or _NoProgress()
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        http: requests.Session = local.session
        return http

    def one(f: RemoteFile) -> FileOutcome:
        try:
            return _fetch(f, out, protocol, session, sink, timeout)
        except TransferError as exc:
            return FileOutcome(f.key, "failed", error=str(exc))
        except (OSError, requests.RequestException) as exc:
            return FileOutcome(f.key, "failed", error=f"{type(exc).__name__}: {exc}")

    # two files saved under one key would write the same .part from two threads: the later ones fail instead
    first: dict[str, RemoteFile] = {}
    for f in plan.files:
        first.setdefault(f.key, f)
    unique = list(first.values())
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="portal-get") as pool:
        done = dict(zip((id(f) for f in unique), pool.map(one, unique), strict=True))
    outcomes = tuple(
        done.get(id(f)) or FileOutcome(f.key, "failed", error="another file of the record is saved under this key")
        for f in plan.files
    )
    return DownloadReport(outcomes)


class _NoProgress:
    def advance(self, n: int) -> None:
        pass

    def discount(self, n: int) -> None:
        pass


def _fetch(
    f: RemoteFile,
    out: Path,
    protocol: Transport,
    session: Callable[[], requests.Session],
    sink: Progress,
    timeout: float,
) -> FileOutcome:
    url = f.url(protocol)
    if url is None:
        raise TransferError(f"the server gives no {protocol}:// URL for it")
    final = local_path(out, f.key)
    part = final.with_name(final.name + ".part")
    final.parent.mkdir(parents=True, exist_ok=True)
    refetched = False
    if final.exists():
        if _complete(final, f):
            sink.discount(f.size or 0)  # files of unknown size were never in the total
            return FileOutcome(f.key, "skipped")
        final.unlink()  # damaged or stale: fetched again below
        refetched = True
    fetched = 0
    for attempt in range(2):
        check = Checksum(f.checksum)
        offset = 0
        if part.exists():
            if f.size is not None and part.stat().st_size > f.size:
                part.unlink()
            else:
                offset = check.feed_file(part)
                sink.discount(offset)
        if f.size is None or offset < f.size:
            if protocol == "https":
                got, offset = _http(session(), url, part, offset, check, sink, timeout)
            else:
                got, offset = _xrootd(url, part, offset, f.size, check, sink, timeout)
            fetched += got
        size = part.stat().st_size if part.exists() else 0
        if (f.size is None or size == f.size) and check.matches():
            os.replace(part, final)
            status: Status = "resumed" if offset else "downloaded"
            return FileOutcome(f.key, status, fetched, refetched=refetched)
        part.unlink(missing_ok=True)
        problem = (
            f"size {size} bytes, expected {f.size}"
            if f.size is not None and size != f.size
            else f"{check.algorithm} {check.hexdigest()}, expected {check.expected}"
        )
        if attempt == 0 and offset > 0:
            continue  # the resumed prefix may have been the bad part: once more from the first byte
        raise TransferError(f"verification failed: {problem}")
    raise AssertionError("unreachable")


def _complete(path: Path, f: RemoteFile) -> bool:
    """Whether the local ``path`` is ``f`` already: same size, then same checksum (streamed)."""
    if f.size is not None and path.stat().st_size != f.size:
        return False
    check = Checksum(f.checksum)
    if not check.known:
        return f.size is not None  # with neither size nor checksum known, fetch again to be sure
    check.feed_file(path)
    return check.matches()


def _http(
    http: requests.Session, url: str, part: Path, offset: int, check: Checksum, sink: Progress, timeout: float
) -> tuple[int, int]:
    """Append ``url`` from byte ``offset`` to ``part``; returns (bytes fetched, offset it started from)."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with http.get(url, headers=headers, stream=True, timeout=(10, timeout)) as resp:
        if offset and resp.status_code == 200:
            # the server ignored the Range: start over from its first byte
            sink.discount(-offset)
            check.reset()
            offset = 0
        elif resp.status_code not in (200, 206):
            raise TransferError(f"HTTP {resp.status_code} from {url}")
        got = 0
        with part.open("ab" if offset else "wb") as fh:
            for block in resp.iter_content(BLOCK):
                fh.write(block)
                check.update(block)
                got += len(block)
                sink.advance(len(block))
    return got, offset


def _xrootd(
    url: str, part: Path, offset: int, size: int | None, check: Checksum, sink: Progress, timeout: float
) -> tuple[int, int]:
    """Append ``url`` (root://) from byte ``offset`` to ``part`` through the XRootD client."""
    try:
        from XRootD import client
        from XRootD.client.flags import OpenFlags
    except ImportError:
        raise TransferError("root:// needs the XRootD client bindings (pip install xrootd)") from None
    remote = client.File()
    status, _ = remote.open(url, OpenFlags.READ, timeout=int(timeout))
    if not status.ok:
        raise TransferError(f"cannot open {url}: {status.message.strip()}")
    got = 0
    try:
        with part.open("ab" if offset else "wb") as fh:
            position = offset
            while size is None or position < size:
                status, block = remote.read(position, BLOCK, timeout=int(timeout))
                if not status.ok:
                    raise TransferError(f"reading {url} at byte {position}: {status.message.strip()}")
                if not block:
                    break
                fh.write(block)
                check.update(block)
                position += len(block)
                got += len(block)
                sink.advance(len(block))
    finally:
        remote.close()
    return got, offset
