"""Opening the files formats read: any fsspec URL for inspection and previews, a plain open() on the hot path."""

from __future__ import annotations

import os
from typing import Any


def open_source(source: str) -> Any:
    """A binary file object for a local path or any URL fsspec opens (``root://`` through fsspec-xrootd)."""
    import fsspec

    return fsspec.open(source, "rb").open()


def local_path(uri: str) -> str:
    """The filesystem path of a ``file://`` URL or plain path."""
    return uri[len("file://") :] if uri.startswith("file://") else uri


def open_uri(uri: str) -> Any:
    """A binary file object for a catalogue URI (plain path, ``file://`` or ``root://``): local files with a
    plain ``open()``, which costs less than fsspec's layers for each chunk a worker reads."""
    if uri.startswith("root://"):
        return open_source(uri)
    return open(local_path(uri), "rb")


def stamp(uri: str) -> tuple[int, int]:
    """(modification time, size) of a file: what says that a file seen before is still the same file."""
    if uri.startswith("root://"):
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri)
        info = fs.info(path)
        return int(info.get("mtime") or 0), int(info["size"])
    st = os.stat(local_path(uri))
    return st.st_mtime_ns, st.st_size
