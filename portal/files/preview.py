"""Data preview: a file's structure, its first rows or events, and a histogram of one numeric column
(branch) from a bounded sample — for ROOT, Parquet, HDF5 and CSV files the portal holds."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from portal.errors import Invalid
from portal.files.access import FileAccess, Located
from portal.formats.inspect import inspect
from portal.formats.sniff import sniff

MAX_ROWS = 100
MAX_COLUMNS = 40
SAMPLE = 200_000  # entries read for a histogram: enough for a smooth shape, bounded cost on any file


@dataclass(frozen=True)
class Histogram:
    column: str
    edges: list[float]
    counts: list[int]
    entries: int
    sampled_rows: int
    underflow: int
    overflow: int


class Previewer:
    def __init__(self, access: FileAccess) -> None:
        self.access = access

    def _source(self, located: Located) -> tuple[str, str]:
        with self.access.open(located) as fh:
            head = fh.read(8192)
            fh.seek(max(located.size - 4, 0))
            tail = fh.read(4)
        fmt = sniff(head, tail)
        storage = self.access.storage
        return (located.local_path or storage.root_url(located.path) or located.path), fmt

    def preview(self, recid: int, key: str, rows: int = 10) -> dict[str, Any]:
        """Structure and the first ``rows`` rows/events (flattened to NanoAOD-style column names)."""
        if not 1 <= rows <= MAX_ROWS:
            raise Invalid(f"rows must be between 1 and {MAX_ROWS}", field="rows")
        located = self.access.locate(recid, key)
        source, fmt = self._source(located)
        structure = inspect(source, fmt, located.size)
        table = self._head(source, fmt, rows)
        return {"key": key, "format": fmt, "size": located.size, "structure": structure, **table}

    def histogram(
        self, recid: int, key: str, column: str, *, bins: int = 50, value_range: tuple[float, float] | None = None
    ) -> Histogram:
        if not 1 <= bins <= 1000:
            raise Invalid("bins must be between 1 and 1000", field="bins")
        located = self.access.locate(recid, key)
        source, fmt = self._source(located)
        values, sampled = self._column(source, fmt, column)
        values = values[np.isfinite(values)]
        if value_range is None:
            value_range = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
            if value_range[0] == value_range[1]:
                value_range = (value_range[0] - 0.5, value_range[1] + 0.5)
        low, high = value_range
        if not low < high:
            raise Invalid("range must be low,high with low < high", field="range")
        counts, edges = np.histogram(values, bins=bins, range=(low, high))
        return Histogram(
            column=column,
            edges=[float(e) for e in edges],
            counts=[int(c) for c in counts],
            entries=int(len(values)),
            sampled_rows=sampled,
            underflow=int(np.sum(values < low)),
            overflow=int(np.sum(values > high)),
        )

    # ----------------------------------------------------------------- readers
    def _head(self, source: str, fmt: str, rows: int) -> dict[str, Any]:
        if fmt == "root":
            import awkward as ak
            import uproot

            with uproot.open(source) as f:
                tree = _events_tree(f)
                branches = [b for b in tree.keys() if tree[b].typename != "unknown"][:MAX_COLUMNS]  # noqa: SIM118
                arrays = tree.arrays(branches, entry_stop=rows, library="ak")
                return {
                    "columns": branches,
                    "rows": [{n: _plain(ak.to_list(arrays[n][i])) for n in branches} for i in range(len(arrays))],
                }
        if fmt == "parquet":
            import pyarrow.parquet as pq

            with _fsopen(source) as fh:
                pf = pq.ParquetFile(fh)
                batch = next(pf.iter_batches(batch_size=rows, columns=pf.schema_arrow.names[:MAX_COLUMNS]))
                return {"columns": batch.schema.names, "rows": [_plain(r) for r in batch.to_pylist()]}
        if fmt == "hdf5":
            import h5py

            with _fsopen(source) as fh, h5py.File(fh, "r") as h:
                names: list[str] = []
                h.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.ndim >= 1 else None)
                names = names[:MAX_COLUMNS]
                columns = {n: h[n][:rows].tolist() for n in names}
                return {
                    "columns": names,
                    "rows": [
                        {n: _plain(columns[n][i]) if i < len(columns[n]) else None for n in names} for i in range(rows)
                    ],
                    "note": "HDF5 datasets are shown side by side; jagged data is stored flat with counts",
                }
        if fmt in ("csv", "text"):
            import csv

            with _fsopen(source) as fh:
                reader = csv.reader(io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline=""))
                header = next(reader, [])
                body = [dict(zip(header, r, strict=False)) for _, r in zip(range(rows), reader, strict=False)]
                return {"columns": header, "rows": body}
        raise Invalid(f"no preview for {fmt} files", field="key")

    def _column(self, source: str, fmt: str, column: str) -> tuple[np.ndarray, int]:
        """Numeric values of ``column`` over at most SAMPLE rows (jagged columns flattened)."""
        if fmt == "root":
            import awkward as ak
            import uproot

            with uproot.open(source) as f:
                tree = _events_tree(f)
                if column not in tree.keys():  # noqa: SIM118 - a TTree is not a dict
                    raise Invalid(f"no branch {column!r} in this file", field="column")
                stop = min(SAMPLE, tree.num_entries)
                values = tree[column].array(entry_stop=stop, library="ak")
                return _numeric(ak.to_numpy(ak.flatten(values, axis=None)), column), stop
        if fmt == "parquet":
            import awkward as ak
            import pyarrow.parquet as pq

            with _fsopen(source) as fh:
                pf = pq.ParquetFile(fh)
                if column not in pf.schema_arrow.names:
                    raise Invalid(f"no column {column!r} in this file", field="column")
                batch = next(pf.iter_batches(batch_size=SAMPLE, columns=[column]))
                array = ak.from_arrow(batch.column(0))
                return _numeric(ak.to_numpy(ak.flatten(array, axis=None)), column), batch.num_rows
        if fmt == "hdf5":
            import h5py

            with _fsopen(source) as fh, h5py.File(fh, "r") as h:
                if column not in h or not isinstance(h[column], h5py.Dataset):
                    raise Invalid(f"no dataset {column!r} in this file", field="column")
                data = h[column][:SAMPLE]
                return _numeric(np.asarray(data).ravel(), column), len(data)
        if fmt in ("csv", "text"):
            import pandas as pd

            with _fsopen(source) as fh:
                frame = pd.read_csv(fh, nrows=SAMPLE)
            if column not in frame.columns:
                raise Invalid(f"no column {column!r} in this file", field="column")
            return _numeric(frame[column].to_numpy(), column), len(frame)
        raise Invalid(f"no histogram for {fmt} files", field="key")


def render_histogram(h: Histogram, fmt: str) -> bytes:
    """The histogram as a PNG or SVG figure (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.stairs(h.counts, h.edges, fill=True, color="#4c78a8")
    ax.set(
        xlabel=h.column,
        ylabel="entries per bin",
        title=f"{h.column}: {h.entries:,} values from the first {h.sampled_rows:,} rows",
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _events_tree(f: Any) -> Any:
    trees = [k for k, c in f.classnames().items() if c == "TTree"]
    if not trees:
        raise Invalid("this ROOT file holds no TTree to preview", field="key")
    name = next((t for t in trees if t.split(";")[0] == "Events"), trees[0])
    return f[name]


def _fsopen(source: str) -> Any:
    import fsspec

    return fsspec.open(source, "rb").open()


def _numeric(values: np.ndarray, column: str) -> np.ndarray:
    if values.dtype.kind not in "biuf":
        raise Invalid(f"column {column!r} is not numeric ({values.dtype})", field="column")
    return values.astype(np.float64)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value[:50]]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
