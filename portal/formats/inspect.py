"""Inspect ROOT (uproot), HDF5 (h5py), Parquet (pyarrow) and CSV files: structure, entries, compression.

Each inspector takes a local path or a URL that fsspec opens (root:// through fsspec-xrootd) and returns
a JSON-able summary; a damaged file raises :class:`portal.errors.Invalid` naming the file and the reason.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from portal.errors import Invalid

MAX_COLUMNS = 500  # summaries stay small even for files with thousands of branches


def _open(source: str) -> Any:
    import fsspec

    return fsspec.open(source, "rb").open()


def inspect_root(source: str, size: int) -> dict[str, Any]:
    import uproot

    try:
        f = uproot.open(source)
    except Exception as exc:
        raise Invalid(f"not a readable ROOT file: {exc}", source=source) from exc
    with f:
        end = f.file.fEND
        if end > size:
            raise Invalid(f"truncated ROOT file: its header says {end} bytes, the file has {size}", source=source)
        try:
            classes = f.classnames()
            trees: dict[str, Any] = {}
            for name, cls in classes.items():
                if cls not in ("TTree", "ROOT::RNTuple") and not cls.startswith("ROOT::Experimental::RNTuple"):
                    continue
                obj = f[name]
                if cls == "TTree":
                    branches = {b.name: b.typename for b in obj.branches[:MAX_COLUMNS]}
                    trees[name.split(";")[0]] = {
                        "class": cls,
                        "entries": int(obj.num_entries),
                        "branches": branches,
                        "compressed_bytes": int(obj.compressed_bytes),
                        "uncompressed_bytes": int(obj.uncompressed_bytes),
                    }
                else:
                    fields = [fld.field_name for fld in obj.field_records[:MAX_COLUMNS]]
                    trees[name.split(";")[0]] = {"class": "RNTuple", "entries": int(obj.num_entries), "fields": fields}
        except Invalid:
            raise
        except Exception as exc:
            raise Invalid(f"damaged ROOT file: {exc}", source=source) from exc
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


def inspect_hdf5(source: str, size: int) -> dict[str, Any]:
    import h5py

    try:
        fh = _open(source)
        h = h5py.File(fh, "r")
    except Exception as exc:
        raise Invalid(f"not a readable HDF5 file: {exc}", source=source) from exc
    datasets: dict[str, Any] = {}
    groups: list[str] = []
    try:

        def visit(name: str, obj: Any) -> None:
            if len(datasets) >= MAX_COLUMNS:
                return
            if isinstance(obj, h5py.Dataset):
                datasets[name] = {"shape": list(obj.shape), "dtype": str(obj.dtype), "compression": obj.compression}
            else:
                groups.append(name)

        h.visititems(visit)
        attrs = {f"{g}/{k}": _plain(v) for g in ["", *groups] for k, v in (h[g] if g else h).attrs.items()}
    except Exception as exc:
        raise Invalid(f"damaged HDF5 file: {exc}", source=source) from exc
    finally:
        h.close()
        fh.close()
    entries = attrs.get("Events/entries")
    return {
        "format": "hdf5",
        "entries": int(entries) if entries is not None else None,
        "groups": groups,
        "datasets": datasets,
        "attributes": attrs,
    }


def inspect_parquet(source: str, size: int) -> dict[str, Any]:
    import pyarrow.parquet as pq

    try:
        with _open(source) as fh:
            meta = pq.ParquetFile(fh).metadata
            schema = meta.schema.to_arrow_schema()
    except Exception as exc:
        raise Invalid(f"not a readable Parquet file: {exc}", source=source) from exc
    codecs = sorted(
        {
            meta.row_group(i).column(j).compression
            for i in range(meta.num_row_groups)
            for j in range(min(meta.num_columns, MAX_COLUMNS))
        }
    )
    return {
        "format": "parquet",
        "entries": int(meta.num_rows),
        "row_groups": meta.num_row_groups,
        "columns": {f.name: str(f.type) for f in list(schema)[:MAX_COLUMNS]},
        "codecs": codecs,
    }


def inspect_csv(source: str, size: int) -> dict[str, Any]:
    with _open(source) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            raise Invalid("empty CSV file", source=source) from None
    rows = _count_csv_rows(source)
    return {"format": "csv", "entries": rows, "columns": header[:MAX_COLUMNS]}


def _count_csv_rows(source: str) -> int:
    """Data rows, counted as newlines in 8 MiB blocks (~8x faster than csv parsing: 0.15 s vs 1.2 s on 55 MB).

    A quoted field may hold a newline, so a file with any quote character is parsed with `csv` instead.
    """
    newlines, last = 0, b"\n"
    with _open(source) as raw:
        while block := raw.read(8 << 20):
            if b'"' in block:
                break
            newlines += block.count(b"\n")
            last = block[-1:]
        else:
            rows = newlines + (last != b"\n")  # a last line without its newline is still a row
            return max(rows - 1, 0)  # minus the header
    with _open(source) as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=""))
        next(reader, None)
        return sum(1 for _ in reader)


INSPECTORS = {"root": inspect_root, "hdf5": inspect_hdf5, "parquet": inspect_parquet, "csv": inspect_csv}


def inspect(source: str, fmt: str, size: int) -> dict[str, Any]:
    """Summary of a file of format ``fmt`` (from :func:`portal.formats.sniff.sniff`)."""
    inspector = INSPECTORS.get(fmt)
    if inspector is None:
        return {"format": fmt, "entries": None}
    return inspector(source, size)


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def inspect_path(source: str) -> dict[str, Any]:
    """Sniff a local path or fsspec URL (`root://` through fsspec-xrootd) from its content, then inspect it.

    Reads the first 8 KiB and the last 4 bytes only; the summary gains ``size``.
    """
    import fsspec

    from portal.formats.sniff import sniff

    try:
        fs, path = fsspec.core.url_to_fs(source)
        size = int(fs.size(path))
        with fs.open(path, "rb") as fh:
            head = fh.read(8192)
            fh.seek(max(0, size - 4))
            tail = fh.read(4)
    except FileNotFoundError as exc:
        raise Invalid("no such file", source=source) from exc
    except OSError as exc:
        raise Invalid(f"cannot read: {exc}", source=source) from exc
    return {**inspect(source, sniff(head, tail), size), "size": size}
