"""ROOT files through uproot: TTrees and RNTuples summarised, the ``Events`` TTree previewed and processed."""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from portal.errors import Invalid
from portal.formats.base import (
    MAX_COLUMNS,
    PREVIEW_COLUMNS,
    ColumnSample,
    PreviewTable,
    Summary,
    numeric,
    plain,
)
from portal.formats.sources import forget, local_path, stamp, tuned
from portal.i18n import N_

if TYPE_CHECKING:
    import awkward as ak

    from portal.settings import Settings

TREE = "Events"
#: files a thread keeps open between chunks (see _events_tree)
OPEN_FILES_PER_THREAD = 4


class RootSummary(Summary):
    trees: dict[str, Any]  # name -> {class, entries, branches (name -> type) | fields, compressed/uncompressed bytes}
    compression: dict[str, Any]  # {algorithm: "ZLIB" | "LZ4" | "ZSTD" | "LZMA" | "none", level}


@functools.cache
def use_fast_zlib() -> Any:
    """uproot, decoding ZLIB baskets with libdeflate when installed: decompression dominates light queries.

    Called before any file is opened, in every process that reads (Dask workers included), and when a
    RootFormat is unpickled (see RootFormat.__reduce__)."""
    import awkward  # noqa: F401 - what reads return; imported here so that a worker pays for it up front
    import uproot

    try:
        import deflate  # noqa: F401
    except ImportError:
        return uproot
    uproot.ZLIB.library = "deflate"
    return uproot


class RootFormat:
    """ROOT files (``root`` magic). Summaries list TTrees (branches, entries, compressed sizes) and RNTuples
    (fields, entries) with the file's compression; previews, samples and processing read the ``Events`` TTree
    (previews fall back to the first TTree)."""

    name = "root"
    suffixes = (".root",)
    processable = True
    textual = False

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> RootFormat:
        return cls()

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        # A Dask worker gets its formats by unpickling the engine's task: importing uproot and awkward there and
        # then (~0.5 s), rather than at the first read, keeps that cost out of the first task's measured time,
        # from which the planner sizes the next job's tasks (engine._COSTS).
        return _prepared, ()

    def sniff(self, head: bytes, tail: bytes) -> bool:
        return head.startswith(b"root")

    def inspect(self, source: str, size: int) -> RootSummary:
        uproot = use_fast_zlib()
        try:
            f = uproot.open(source)
        except Exception as exc:
            raise Invalid(N_("not a readable ROOT file: {exc}"), exc=exc, source=source) from exc
        with f:
            end = f.file.fEND
            if end > size:
                raise Invalid(
                    N_("truncated ROOT file: its header says {end} bytes, the file has {size}"),
                    end=end,
                    size=size,
                    source=source,
                )
            try:
                trees = _trees(f)
            except Exception as exc:
                raise Invalid(N_("damaged ROOT file: {exc}"), exc=exc, source=source) from exc
            compression = f.file.compression
            entries = trees.get("Events", next(iter(trees.values()), {})).get("entries")
            return {
                "format": "root",
                "entries": entries,
                "trees": trees,
                "compression": {
                    "algorithm": type(compression).__name__ if compression else "none",
                    "level": getattr(compression, "level", 0),
                },
            }

    def preview(self, source: str, rows: int) -> PreviewTable:
        import awkward as ak

        with use_fast_zlib().open(source) as f:
            tree = _preview_tree(f)
            branches = [b for b in tree.keys() if tree[b].typename != "unknown"][:PREVIEW_COLUMNS]  # noqa: SIM118
            arrays = tree.arrays(branches, entry_stop=rows, library="ak")
            return PreviewTable(
                columns=branches,
                rows=[{n: plain(ak.to_list(arrays[n][i])) for n in branches} for i in range(len(arrays))],
            )

    def sample(self, source: str, column: str, rows: int) -> ColumnSample:
        import awkward as ak

        with use_fast_zlib().open(source) as f:
            tree = _preview_tree(f)
            if column not in tree.keys():  # noqa: SIM118 - a TTree is not a dict
                raise Invalid(N_("no branch {column!r} in this file"), column=column, field="column")
            stop = min(rows, tree.num_entries)
            values = tree[column].array(entry_stop=stop, library="ak")
            return ColumnSample(numeric(ak.to_numpy(ak.flatten(values, axis=None)), column), stop)

    def entry_boundaries(self, uri: str) -> list[int]:
        with _cached_tree(uri) as tree:
            return [int(x) for x in tree.common_entry_offsets()]

    def read(self, uri: str, columns: Sequence[str], start: int, stop: int) -> ak.Array:
        # array_cache=None: each entry range is read once, keeping a copy in the file's cache only costs memory
        with _cached_tree(uri) as tree:
            return tree.arrays(
                list(columns), entry_start=start, entry_stop=stop, library="ak", how=None, array_cache=None
            )


def _prepared() -> RootFormat:
    use_fast_zlib()
    return RootFormat()


def _trees(f: Any) -> dict[str, Any]:
    trees: dict[str, Any] = {}
    for name, cls in f.classnames().items():
        if cls not in ("TTree", "ROOT::RNTuple") and not cls.startswith("ROOT::Experimental::RNTuple"):
            continue
        obj = f[name]
        if cls == "TTree":
            trees[name.split(";")[0]] = {
                "class": cls,
                "entries": int(obj.num_entries),
                "branches": {b.name: b.typename for b in obj.branches[:MAX_COLUMNS]},
                "compressed_bytes": int(obj.compressed_bytes),
                "uncompressed_bytes": int(obj.uncompressed_bytes),
            }
        else:
            fields = [fld.field_name for fld in obj.field_records[:MAX_COLUMNS]]
            trees[name.split(";")[0]] = {"class": "RNTuple", "entries": int(obj.num_entries), "fields": fields}
    return trees


def _preview_tree(f: Any) -> Any:
    trees = [k for k, c in f.classnames().items() if c == "TTree"]
    if not trees:
        raise Invalid(N_("this ROOT file holds no TTree to preview"), field="key")
    name = next((t for t in trees if t.split(";")[0] == TREE), trees[0])
    return f[name]


_OPEN = threading.local()


def _events_tree(uri: str) -> Any:
    """The file's Events tree, kept open for this thread's next chunks of the same file (a small LRU): opening
    costs a header and a streamer read, and over root:// a login and round trips, for every chunk otherwise."""
    path = tuned(uri) if uri.startswith("root://") else local_path(uri)
    here = None if uri.startswith("root://") else stamp(uri)  # a rewritten local file is opened afresh
    cache: OrderedDict[str, tuple[tuple[int, int] | None, Any]] = _OPEN.__dict__.setdefault("trees", OrderedDict())
    hit = cache.get(path)
    if hit is not None and hit[0] == here:
        cache.move_to_end(path)
        return hit[1]
    if hit is not None:
        cache.pop(path)[1].file.close()
    tree = use_fast_zlib().open(path)[TREE]
    cache[path] = (here, tree)
    while len(cache) > max(1, OPEN_FILES_PER_THREAD):
        cache.popitem(last=False)[1][1].file.close()
    return tree


@contextmanager
def _cached_tree(uri: str) -> Iterator[Any]:
    """:func:`_events_tree`, forgotten when reading it fails: a file whose server went away (an XRootD server
    killed and restarted) is closed by the client, and the thread's next job must open it afresh, not fail on
    the dead handle."""
    try:
        yield _events_tree(uri)
    except Exception:
        _forget(uri)
        raise


def _forget(uri: str) -> None:
    forget(uri)
    path = uri if uri.startswith("root://") else local_path(uri)
    cache = _OPEN.__dict__.get("trees", {})
    hit = cache.pop(path, None)
    if hit is not None:
        # closing a handle whose server is gone may fail too; it is dropped all the same
        with suppress(Exception):
            hit[1].file.close()


def close_open_files() -> None:
    """Close this thread's cached files (tests, and executors shutting down)."""
    cache = _OPEN.__dict__.pop("trees", {})
    for _stamp, tree in cache.values():
        tree.file.close()
