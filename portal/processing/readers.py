"""Read entry ranges of only the requested columns from ROOT (uproot), Parquet (pyarrow) and HDF5 (h5py) files."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import awkward as ak
import numpy as np

TREE = "Events"


def _fast_zlib() -> None:
    """Decode ZLIB baskets with libdeflate when installed: decompression dominates light queries."""
    try:
        import deflate  # noqa: F401
        import uproot
    except ImportError:
        return
    uproot.ZLIB.library = "deflate"


_fast_zlib()


def format_of(uri: str) -> str:
    lower = uri.lower().split("?", 1)[0]
    if lower.endswith(".root"):
        return "root"
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    if lower.endswith((".h5", ".hdf5")):
        return "hdf5"
    raise ValueError(f"no reader for {uri}: expected .root, .parquet or .h5")


def local_path(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri


def _open_binary(uri: str) -> Any:
    if uri.startswith("root://"):
        import fsspec

        return fsspec.open(uri, "rb").open()
    return open(local_path(uri), "rb")


_OPEN = threading.local()
OPEN_FILES_PER_THREAD = 4


def _root_tree(uri: str) -> Any:
    """The file's Events tree, kept open for this thread's next chunks of the same file (a small LRU): opening
    costs a header and a streamer read, and over root:// a login and round trips, for every chunk otherwise."""
    import uproot

    path = uri if uri.startswith("root://") else local_path(uri)
    stamp = None if uri.startswith("root://") else _stamp(uri)  # a rewritten local file is opened afresh
    cache: OrderedDict[str, tuple[tuple[int, int] | None, Any]] = _OPEN.__dict__.setdefault("trees", OrderedDict())
    hit = cache.get(path)
    if hit is not None and hit[0] == stamp:
        cache.move_to_end(path)
        return hit[1]
    if hit is not None:
        cache.pop(path)[1].file.close()
    tree = uproot.open(path)[TREE]
    cache[path] = (stamp, tree)
    while len(cache) > max(1, OPEN_FILES_PER_THREAD):
        cache.popitem(last=False)[1][1].file.close()
    return tree


def close_open_files() -> None:
    """Close this thread's cached files (tests, and executors shutting down)."""
    cache = _OPEN.__dict__.pop("trees", {})
    for _stamp, tree in cache.values():
        tree.file.close()


def _stamp(uri: str) -> tuple[int, int]:
    """(modification time, size) of a file: what says that a file seen before is still the same file."""
    if uri.startswith("root://"):
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri)
        info = fs.info(path)
        return int(info.get("mtime") or 0), int(info["size"])
    st = os.stat(local_path(uri))
    return st.st_mtime_ns, st.st_size


_BOUNDS: OrderedDict[tuple[str, tuple[int, int]], list[int]] = OrderedDict()
_BOUNDS_LOCK = threading.Lock()
BOUNDARIES_CACHED = 4096


def boundaries(uri: str) -> list[int]:
    """Entry offsets where reading can split cheaply: ROOT cluster/basket boundaries, Parquet row groups,
    or just [0, entries] (HDF5 is chunked by our own step size).

    Remembered per (uri, mtime, size): planning a job over files seen before then costs a stat per file
    instead of an open, a header and streamer read (and over root:// a login)."""
    key = (uri, _stamp(uri))
    with _BOUNDS_LOCK:
        hit = _BOUNDS.get(key)
        if hit is not None:
            _BOUNDS.move_to_end(key)
            return list(hit)
    found = _read_boundaries(uri)
    with _BOUNDS_LOCK:
        _BOUNDS[key] = found
        while len(_BOUNDS) > BOUNDARIES_CACHED:
            _BOUNDS.popitem(last=False)
    return list(found)


def _read_boundaries(uri: str) -> list[int]:
    fmt = format_of(uri)
    if fmt == "root":
        return [int(x) for x in _root_tree(uri).common_entry_offsets()]
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with _open_binary(uri) as fh:
            meta = pq.ParquetFile(fh).metadata
            sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        return [0, *np.cumsum(sizes).astype(int).tolist()]
    import h5py

    with _open_binary(uri) as fh, h5py.File(fh, "r") as h:
        group = h[TREE]
        entries = group.attrs.get("entries")
        if entries is None:
            counters = [k for k in group if k.startswith("n") and k[1:2].isupper()]
            entries = len(group[counters[0] if counters else next(iter(group))])
        return [0, int(entries)]


def read(uri: str, columns: Sequence[str], start: int, stop: int) -> ak.Array:
    """Entries [start, stop) of ``columns`` as an awkward record array (one field per column)."""
    fmt = format_of(uri)
    if fmt == "root":
        # array_cache=None: each entry range is read once, keeping a copy in the file's cache only costs memory
        return _root_tree(uri).arrays(
            list(columns), entry_start=start, entry_stop=stop, library="ak", how=None, array_cache=None
        )
    if fmt == "parquet":
        return _read_parquet(uri, columns, start, stop)
    return _read_hdf5(uri, columns, start, stop)


def _read_parquet(uri: str, columns: Sequence[str], start: int, stop: int) -> ak.Array:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with _open_binary(uri) as fh:
        pf = pq.ParquetFile(fh)
        meta = pf.metadata
        groups, first, offset = [], None, 0
        for i in range(meta.num_row_groups):
            n = meta.row_group(i).num_rows
            if offset < stop and offset + n > start:
                groups.append(i)
                first = offset if first is None else first
            offset += n
        if not groups:
            return ak.Array({c: np.zeros(0) for c in columns})
        table = pf.read_row_groups(groups, columns=list(columns))
    assert first is not None
    table = table.slice(start - first, stop - start)
    arr = ak.from_arrow(table.combine_chunks() if isinstance(table, pa.Table) else table)
    return ak.zip({c: ak.without_parameters(arr[c]) for c in columns}, depth_limit=1)


def _read_hdf5(uri: str, columns: Sequence[str], start: int, stop: int) -> ak.Array:
    import h5py

    out: dict[str, Any] = {}
    with _open_binary(uri) as fh, h5py.File(fh, "r") as h:
        group = h[TREE]
        entries = int(group.attrs.get("entries", stop))
        offsets_cache: dict[str, tuple[np.ndarray, int, int]] = {}
        for c in columns:
            ds = group[c]
            prefix = c.split("_", 1)[0]
            counter = "n" + prefix
            jagged = "_" in c and counter in group and ds.shape[0] != entries
            if not jagged:
                out[c] = ds[start:stop]
                continue
            if counter not in offsets_cache:
                counts_all = group[counter][:stop].astype(np.int64)
                lo = int(counts_all[:start].sum())
                counts = counts_all[start:stop]
                offsets_cache[counter] = (counts, lo, lo + int(counts.sum()))
            counts, lo, hi = offsets_cache[counter]
            out[c] = ak.unflatten(ds[lo:hi], counts)
    return ak.zip(out, depth_limit=1)
