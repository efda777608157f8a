"""A file-format double for unit tests: a small self-describing columnar format that every consumer can read.

Not registered in the portal's entry points (every registered format is active); tests put it in a
:class:`portal.formats.collection.Formats` themselves, or register it from a test's own distribution.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from portal.errors import Invalid
from portal.formats.base import PREVIEW_COLUMNS, ColumnSample, PreviewTable, Summary, numeric
from portal.formats.sources import open_source, open_uri
from portal.i18n import N_

if TYPE_CHECKING:
    import awkward as ak

    from portal.settings import Settings

MAGIC = b"\x00FAKE\n"
END = b"\x00END"


class FakeSummary(Summary):
    columns: list[str]
    boundaries: list[int]


class FakeFormat:
    """The "fake" format: ``\\0FAKE\\n``, a JSON object ``{"columns": {name: [value per entry]}, "boundaries":
    [...]}``, then ``\\0END``. Values are numbers or lists of numbers (jagged columns). Processable, so tests can
    run analyses over it; write files with :meth:`write`. For tests only."""

    name = "fake"
    suffixes = (".fake",)
    processable = True
    textual = False
    development_only = True

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> FakeFormat:
        return cls()

    @staticmethod
    def write(path: Path, columns: Mapping[str, Sequence[Any]], boundaries: Sequence[int] | None = None) -> Path:
        """Write ``columns`` (equal lengths) as a fake-format file; ``boundaries`` default to [0, entries]."""
        entries = len(next(iter(columns.values()), []))
        body = {"columns": {k: list(v) for k, v in columns.items()}, "boundaries": list(boundaries or [0, entries])}
        path.write_bytes(MAGIC + json.dumps(body).encode() + END)
        return path

    def sniff(self, head: bytes, tail: bytes) -> bool:
        return head.startswith(MAGIC) and (not tail or tail == END)

    def inspect(self, source: str, size: int) -> FakeSummary:
        columns, boundaries = self._load(source)
        entries = len(next(iter(columns.values()), []))
        return {"format": self.name, "entries": entries, "columns": list(columns), "boundaries": boundaries}

    def preview(self, source: str, rows: int) -> PreviewTable:
        columns, _ = self._load(source)
        names = list(columns)[:PREVIEW_COLUMNS]
        entries = min(rows, len(next(iter(columns.values()), [])))
        return PreviewTable(columns=names, rows=[{n: columns[n][i] for n in names} for i in range(entries)])

    def sample(self, source: str, column: str, rows: int) -> ColumnSample:
        columns, _ = self._load(source)
        if column not in columns:
            raise Invalid(N_("no column {column!r} in this file"), column=column, field="column")
        values = columns[column][:rows]
        flat = [x for v in values for x in (v if isinstance(v, list) else [v])]
        return ColumnSample(numeric(np.asarray(flat if flat else [], dtype=np.float64), column), len(values))

    def entry_boundaries(self, uri: str) -> list[int]:
        return self._load(uri, hot=True)[1]

    def read(self, uri: str, columns: Sequence[str], start: int, stop: int) -> ak.Array:
        import awkward as ak

        data, _ = self._load(uri, hot=True)
        missing = [c for c in columns if c not in data]
        if missing:
            raise KeyError(f"no column(s) {', '.join(missing)} in {uri}")
        return ak.zip({c: ak.Array(data[c][start:stop]) for c in columns}, depth_limit=1)

    def _load(self, source: str, *, hot: bool = False) -> tuple[dict[str, list[Any]], list[int]]:
        with open_uri(source) if hot else open_source(source) as fh:
            raw = fh.read()
        if not raw.startswith(MAGIC):
            raise Invalid(N_("not a fake-format file"), source=source)
        if not raw.endswith(END):
            raise Invalid(N_("truncated fake-format file: no end marker"), source=source)
        try:
            body = json.loads(raw[len(MAGIC) : -len(END)])
            columns = {str(k): list(v) for k, v in body["columns"].items()}
            boundaries = [int(b) for b in body["boundaries"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise Invalid(N_("damaged fake-format file: {exc}"), exc=exc, source=source) from exc
        if len({len(v) for v in columns.values()}) > 1:
            raise Invalid(N_("damaged fake-format file: columns of different lengths"), source=source)
        return columns, boundaries
