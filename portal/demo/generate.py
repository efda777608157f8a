"""Write the generated events as ROOT (TTree), Parquet and HDF5 files, and the CSV education sample.

`portal data generate --tier tiny|small|bench --out DIR` runs :func:`generate`. Output is
deterministic: Parquet, HDF5 and CSV files are byte-identical for the same seed and tier; ROOT files
carry a random UUID and a timestamp in their header (written by uproot), so for them it is the decoded
arrays that are identical.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import uproot

from portal.demo.nanoaod import TIERS, flat_columns, generate_events

DEFAULT_SEED = 20121
CHUNK = 100_000
FORMATS = ("root", "parquet", "hdf5", "csv")
COMPRESSIONS: dict[str, Callable[[], object]] = {
    "zlib": lambda: uproot.ZLIB(1),
    "lz4": lambda: uproot.LZ4(1),
    "zstd": lambda: uproot.ZSTD(1),
    "lzma": lambda: uproot.LZMA(1),
    "none": lambda: None,
}


def chunks(seed: int, file_index: int, n_events: int) -> Iterator[ak.Array]:
    """The events of one file in chunks; chunk k is generated from its own seed, so files stream."""
    for k, start in enumerate(range(0, n_events, CHUNK)):
        yield generate_events(seed * 1000 + k, file_index, min(CHUNK, n_events - start))


def write_root(path: Path, parts: Iterator[ak.Array], compression: str = "zlib") -> int:
    """An `Events` TTree (not an RNTuple: uproot's `mktree`); returns the number of entries."""
    total = 0
    with uproot.recreate(path, compression=COMPRESSIONS[compression]()) as f:
        tree = None
        for events in parts:
            data = {name: events[name] for name in events.fields}
            if tree is None:
                tree = f.mktree(
                    "Events",
                    {k: v.type.content if isinstance(v.type, ak.types.ArrayType) else v for k, v in data.items()},
                    initial_basket_capacity=50,
                )
            tree.extend(data)
            total += len(events)
    return total


def _arrow_table(events: ak.Array) -> pa.Table:
    return ak.to_arrow_table(ak.zip(flat_columns(events), depth_limit=1), extensionarray=False)


def write_parquet(path: Path, parts: Iterator[ak.Array]) -> int:
    total = 0
    writer = None
    try:
        for events in parts:
            table = _arrow_table(events)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=CHUNK)
            total += len(events)
    finally:
        if writer is not None:
            writer.close()
    return total


def _with_offsets(columns: dict[str, ak.Array], ends: dict[str, int], first: bool) -> dict[str, ak.Array]:
    """Add `<Collection>_offsets` (entries + 1 values, int64) after each `n<Collection>` counter, so a
    reader can slice entries [a, b) of a jagged branch without summing all counts before ``a``."""
    out: dict[str, ak.Array] = {}
    for name, column in columns.items():
        out[name] = column
        if name.startswith("n") and name[1:2].isupper():
            collection = name[1:]
            counts = ak.to_numpy(column).astype(np.int64)
            offsets = ends.get(collection, 0) + np.cumsum(counts)
            ends[collection] = int(offsets[-1]) if len(offsets) else ends.get(collection, 0)
            out[f"{collection}_offsets"] = ak.Array(np.concatenate([[0], offsets]) if first else offsets)
    return out


def write_hdf5(path: Path, parts: Iterator[ak.Array]) -> int:
    """Flat value arrays per branch, `n<Collection>` counts and `<Collection>_offsets`; no timestamps, so
    bytes are stable."""
    total = 0
    ends: dict[str, int] = {}
    with h5py.File(path, "w", track_order=True) as f:
        group = f.create_group("Events", track_order=True)
        group.attrs["format"] = (
            "NanoAOD-like events; jagged branches are flat, with n<Collection> counts and "
            "<Collection>_offsets (entries + 1 values)"
        )
        for events in parts:
            for name, column in _with_offsets(flat_columns(events), ends, first=total == 0).items():
                values = ak.to_numpy(ak.flatten(column) if column.ndim > 1 else column)
                if name not in group:
                    group.create_dataset(
                        name,
                        data=values,
                        maxshape=(None,),
                        chunks=(min(len(values) or 1, 65536),),
                        compression="gzip",
                        compression_opts=1,
                        track_times=False,
                    )
                else:
                    ds = group[name]
                    ds.resize(ds.shape[0] + len(values), axis=0)
                    ds[-len(values) :] = values
            total += len(events)
        group.attrs["entries"] = total
    return total


PAIR_COLUMNS = ("run", "event", "pt1", "eta1", "phi1", "Q1", "pt2", "eta2", "phi2", "Q2", "M")


def dimuon_pairs(events: ak.Array) -> dict[str, np.ndarray]:
    """Events with exactly two opposite-charge muons: the kinematics of both and their invariant mass."""
    mu = events.Muon
    keep = ak.num(mu, axis=1) == 2
    mu, sel = mu[keep], events[keep]
    opposite = mu.charge[:, 0] != mu.charge[:, 1]
    mu, sel = mu[opposite], sel[opposite]
    out: dict[str, np.ndarray] = {"run": ak.to_numpy(sel.run), "event": ak.to_numpy(sel.event)}
    px = py = pz = e = 0
    for i in (0, 1):
        pt, eta, phi, m = (ak.to_numpy(mu[v][:, i]).astype(np.float64) for v in ("pt", "eta", "phi", "mass"))
        out[f"pt{i + 1}"], out[f"eta{i + 1}"], out[f"phi{i + 1}"] = pt, eta, phi
        out[f"Q{i + 1}"] = ak.to_numpy(mu.charge[:, i])
        px, py, pz = px + pt * np.cos(phi), py + pt * np.sin(phi), pz + pt * np.sinh(eta)
        e = e + np.sqrt((pt * np.cosh(eta)) ** 2 + m**2)
    out["M"] = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0))
    return out


def write_csv(path: Path, parts: Iterator[ak.Array]) -> int:
    rows = 0
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(PAIR_COLUMNS)
        for events in parts:
            pairs = dimuon_pairs(events)
            for values in zip(*(pairs[c] for c in PAIR_COLUMNS), strict=True):
                writer.writerow([f"{v:.4f}" if isinstance(v, float | np.floating) else int(v) for v in values])
                rows += 1
    return rows


def generate(
    tier: str,
    out: Path,
    *,
    formats: tuple[str, ...] = FORMATS,
    compression: str = "zlib",
    seed: int = DEFAULT_SEED,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write every file of ``tier`` into ``out``; returns their paths. Existing files are replaced."""
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}")
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown format(s) {', '.join(sorted(unknown))}; choose from {', '.join(FORMATS)}")
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}; choose one of {', '.join(COMPRESSIONS)}")
    spec = TIERS[tier]
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for i in range(spec.files):
        for fmt, suffix, writer in (
            ("root", "root", lambda p, parts: write_root(p, parts, compression)),
            ("parquet", "parquet", write_parquet),
            ("hdf5", "h5", write_hdf5),
        ):
            if fmt in formats:
                path = out / f"nanoaod_{i:03d}.{suffix}"
                tmp = path.with_name(path.name + ".part")  # never leave a half-written file under the real name
                writer(tmp, chunks(seed, i, spec.events_per_file))
                tmp.replace(path)
                written.append(path)
                if progress:
                    progress(str(path))
    if "csv" in formats:
        path = out / "dimuon_pairs.csv"
        tmp = path.with_name(path.name + ".part")
        write_csv(tmp, (e for i in range(spec.files) for e in chunks(seed, i, spec.events_per_file)))
        tmp.replace(path)
        written.append(path)
        if progress:
            progress(str(path))
    return written
