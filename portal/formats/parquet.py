"""Parquet files through pyarrow: schema, row groups and codecs summarised; columns previewed and processed."""

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

MAGIC = b"PAR1"


class ParquetSummary(Summary):
    row_groups: int
    columns: dict[str, str]  # name -> Arrow type
    codecs: list[str]  # compression codecs of the column chunks, sorted


class ParquetFormat:
    """Parquet files (``PAR1`` at both ends: a file cut short loses its footer magic). Events are rows; a jagged
    column is a list column. Row groups are the entry boundaries."""

    name = "parquet"
    suffixes = (".parquet", ".pq")
    processable = True
    textual = False

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> ParquetFormat:
        return cls()

    def sniff(self, head: bytes, tail: bytes) -> bool:
        return head.startswith(MAGIC) and (not tail or tail.endswith(MAGIC))

    def inspect(self, source: str, size: int) -> ParquetSummary:
        import pyarrow.parquet as pq

        try:
            with open_source(source) as fh:
                meta = pq.ParquetFile(fh).metadata
                schema = meta.schema.to_arrow_schema()
        except Exception as exc:
            raise Invalid(N_("not a readable Parquet file: {exc}"), exc=exc, source=source) from exc
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

    def preview(self, source: str, rows: int) -> PreviewTable:
        import pyarrow.parquet as pq

        with open_source(source) as fh:
            pf = pq.ParquetFile(fh)
            batch = next(pf.iter_batches(batch_size=rows, columns=pf.schema_arrow.names[:PREVIEW_COLUMNS]))
            return PreviewTable(columns=batch.schema.names, rows=[plain(r) for r in batch.to_pylist()])

    def sample(self, source: str, column: str, rows: int) -> ColumnSample:
        import awkward as ak
        import pyarrow.parquet as pq

        with open_source(source) as fh:
            pf = pq.ParquetFile(fh)
            if column not in pf.schema_arrow.names:
                raise Invalid(N_("no column {column!r} in this file"), column=column, field="column")
            batch = next(pf.iter_batches(batch_size=rows, columns=[column]))
            array = ak.from_arrow(batch.column(0))
            return ColumnSample(numeric(ak.to_numpy(ak.flatten(array, axis=None)), column), batch.num_rows)

    def entry_boundaries(self, uri: str) -> list[int]:
        import pyarrow.parquet as pq

        with open_uri(uri) as fh:
            meta = pq.ParquetFile(fh).metadata
            sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        return [0, *np.cumsum(sizes).astype(int).tolist()]

    def read(self, uri: str, columns: Sequence[str], start: int, stop: int) -> ak.Array:
        import awkward as ak
        import pyarrow as pa
        import pyarrow.parquet as pq

        with open_uri(uri) as fh:
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
