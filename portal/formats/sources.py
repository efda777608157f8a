"""Opening the files formats read: any fsspec URL for inspection and previews, a plain open() on the hot path."""

from __future__ import annotations

import os
from contextlib import suppress
from typing import Any


def tuned(uri: str) -> str:
    """``uri``, once the XRootD client is set to recover from a server that restarts, when it is a root:// URL
    (:func:`portal.storage.xrootd.tune_client`: a restarted server is otherwise shunned for up to 30 minutes)."""
    if uri.startswith("root://"):
        from portal.storage.xrootd import tune_client

        tune_client()
    return uri


def forget(uri: str) -> None:
    """Drop what fsspec keeps open for a root:// file after reading it failed: fsspec-xrootd keeps each file's
    handle for reuse (30 s after its last use, however often that use fails), so a handle opened before its
    server was killed would fail every read after the server is back."""
    if not uri.startswith("root://"):
        return
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)  # the instance uproot and open_source read through (fsspec caches it)
    with suppress(OSError):  # closing a handle whose server went away fails too; it is out of the cache already
        fs.invalidate_cache(path)


def open_source(source: str) -> Any:
    """A binary file object for a local path or any URL fsspec opens (``root://`` through fsspec-xrootd)."""
    import fsspec

    tuned(source)
    return fsspec.open(source, "rb").open()


def local_path(uri: str) -> str:
    """The filesystem path of a ``file://`` URL or plain path."""
    return uri[len("file://") :] if uri.startswith("file://") else uri


def open_uri(uri: str) -> Any:
    """A binary file object for a catalogue URI (plain path, ``file://`` or ``root://``): local files with a
    plain ``open()``, which costs less than fsspec's layers for each chunk a worker reads.

    Parquet and HDF5 read through these file objects need no :func:`forget` after a failed read: each
    ``open()`` of an fsspec-xrootd file makes a new XRootD handle (and drops the filesystem's cached one first),
    so a job after a server restart never reads through a dead handle (tests/functional/test_faults_servers.py
    kills XRootD mid-analysis on both). Only uproot's reads go through fsspec-xrootd's handle cache."""
    if uri.startswith("root://"):
        return open_source(uri)
    return open(local_path(uri), "rb")


def stamp(uri: str) -> tuple[int, int]:
    """(modification time, size) of a file: what says that a file seen before is still the same file."""
    if uri.startswith("root://"):
        import fsspec

        fs, path = fsspec.core.url_to_fs(tuned(uri))
        info = fs.info(path)
        return int(info.get("mtime") or 0), int(info["size"])
    st = os.stat(local_path(uri))
    return st.st_mtime_ns, st.st_size
