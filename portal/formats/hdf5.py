"""HDF5 files through h5py: groups, datasets and attributes summarised; the ``Events`` group processed.

The portal's HDF5 layout (``portal/demo/generate.py``) keeps events in the ``Events`` group: flat columns of one
value per event, jagged columns stored flat with an ``n<Collection>`` count per event, and the event count in
the group's ``entries`` attribute.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from portal.errors import Invalid
from portal.formats.base import MAX_COLUMNS, PREVIEW_COLUMNS, ColumnSample, PreviewTable, Summary, numeric, plain
from portal.formats.sources import open_source, open_uri
from portal.i18n import N_

if TYPE_CHECKING:
    import awkward as ak

    from portal.settings import Settings

MAGIC = b"\x89HDF\r\n\x1a\n"
GROUP = "Events"


class HDF5Summary(Summary):
    groups: list[str]
    datasets: dict[str, Any]  # path -> {shape, dtype, compression}
    attributes: dict[str, Any]  # "<group>/<name>" -> value


class HDF5Format:
    """HDF5 files (the HDF5 signature at offset 0). Previews show datasets side by side; samples and processing
    read datasets by path (``Events/Muon_pt`` in previews, ``Muon_pt`` in the ``Events`` group for analyses).
    The whole file is one entry range: the planner cuts it by its own step."""

    name = "hdf5"
    suffixes = (".h5", ".hdf5", ".hdf")
    processable = True
    textual = False

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> HDF5Format:
        return cls()

    def sniff(self, head: bytes, tail: bytes) -> bool:
        return head.startswith(MAGIC)

    def inspect(self, source: str, size: int) -> HDF5Summary:
        import h5py

        try:
            fh = open_source(source)
            h = h5py.File(fh, "r")
        except Exception as exc:
            raise Invalid(N_("not a readable HDF5 file: {exc}"), exc=exc, source=source) from exc
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
            attrs = {f"{g}/{k}": _attribute(v) for g in ["", *groups] for k, v in (h[g] if g else h).attrs.items()}
        except Exception as exc:
            raise Invalid(N_("damaged HDF5 file: {exc}"), exc=exc, source=source) from exc
        finally:
            h.close()
            fh.close()
        entries = attrs.get(f"{GROUP}/entries")
        return {
            "format": "hdf5",
            "entries": int(entries) if entries is not None else None,
            "groups": groups,
            "datasets": datasets,
            "attributes": attrs,
        }

    def preview(self, source: str, rows: int) -> PreviewTable:
        import h5py

        with open_source(source) as fh, h5py.File(fh, "r") as h:
            names: list[str] = []
            h.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.ndim >= 1 else None)
            names = names[:PREVIEW_COLUMNS]
            columns = {n: h[n][:rows].tolist() for n in names}
            return PreviewTable(
                columns=names,
                rows=[{n: plain(columns[n][i]) if i < len(columns[n]) else None for n in names} for i in range(rows)],
                note="HDF5 datasets are shown side by side; jagged data is stored flat with counts",
            )

    def sample(self, source: str, column: str, rows: int) -> ColumnSample:
        import h5py

        with open_source(source) as fh, h5py.File(fh, "r") as h:
            if column not in h or not isinstance(h[column], h5py.Dataset):
                raise Invalid(N_("no dataset {column!r} in this file"), column=column, field="column")
            data = h[column][:rows]
            return ColumnSample(numeric(np.asarray(data).ravel(), column), len(data))

    def entry_boundaries(self, uri: str) -> list[int]:
        import h5py

        with open_uri(uri) as fh, h5py.File(fh, "r") as h:
            group = h[GROUP]
            entries = group.attrs.get("entries")
            if entries is None:
                counters = [k for k in group if k.startswith("n") and k[1:2].isupper()]
                entries = len(group[counters[0] if counters else next(iter(group))])
            return [0, int(entries)]

    def read(self, uri: str, columns: Sequence[str], start: int, stop: int) -> ak.Array:
        import awkward as ak
        import h5py

        out: dict[str, Any] = {}
        with open_uri(uri) as fh, h5py.File(fh, "r") as h:
            group = h[GROUP]
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


def _attribute(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
