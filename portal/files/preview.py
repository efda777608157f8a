"""Data preview: a file's structure, its first rows or events, and a histogram of one numeric column
(branch) from a bounded sample — for every file the portal holds in a format of :mod:`portal.formats`."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from portal.errors import Invalid
from portal.files.access import FileAccess, Located
from portal.formats.base import FileFormat
from portal.formats.collection import Formats
from portal.i18n import N_

MAX_ROWS = 100
SAMPLE = 200_000  # entries read for a histogram: enough for a smooth shape, bounded cost on any file


@dataclass(frozen=True)
class Preview:
    """A file's format (a format's name or "json"/"text"/"binary"), size (bytes), structure (the format's
    summary, as ingest stores it), and its first rows: ``columns`` and one dict per row; ``note`` says how to
    read the table when the format needs it."""

    key: str
    format: str
    size: int
    structure: dict[str, Any]
    columns: list[str]
    rows: list[dict[str, Any]]
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "key": self.key,
            "format": self.format,
            "size": self.size,
            "structure": self.structure,
            "columns": self.columns,
            "rows": self.rows,
        }
        if self.note is not None:
            out["note"] = self.note
        return out


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
    """Previews and histograms of the files the portal holds, read through ``formats``."""

    def __init__(self, access: FileAccess, formats: Formats) -> None:
        self.access = access
        self.formats = formats

    def _source(self, located: Located) -> tuple[str, str]:
        """(what the formats open: a local path or root:// URL, the format sniffed from the content)."""
        with self.access.open(located) as fh:
            head = fh.read(8192)
            fh.seek(max(located.size - 4, 0))
            tail = fh.read(4)
        content = self.formats.sniff(head, tail)
        storage = self.access.storage
        return (located.local_path or storage.root_url(located.path) or located.path), content

    def _reader(self, content: str, what: str) -> FileFormat:
        fmt = self.formats.for_content(content)
        if fmt is None:
            raise Invalid(N_("no {what} for {content} files"), what=what, content=content, field="key")
        return fmt

    def preview(self, recid: int, key: str, rows: int = 10) -> Preview:
        """Structure and the first ``rows`` rows/events (flattened to NanoAOD-style column names)."""
        if not 1 <= rows <= MAX_ROWS:
            raise Invalid(N_("rows must be between 1 and {MAX_ROWS}"), MAX_ROWS=MAX_ROWS, field="rows")
        located = self.access.locate(recid, key)
        source, content = self._source(located)
        structure = dict(self.formats.inspect(source, content, located.size))
        table = self._reader(content, "preview").preview(source, rows)
        return Preview(key, content, located.size, structure, table.columns, table.rows, table.note)

    def histogram(
        self, recid: int, key: str, column: str, *, bins: int = 50, value_range: tuple[float, float] | None = None
    ) -> Histogram:
        if not 1 <= bins <= 1000:
            raise Invalid(N_("bins must be between 1 and 1000"), field="bins")
        located = self.access.locate(recid, key)
        source, content = self._source(located)
        sample = self._reader(content, "histogram").sample(source, column, SAMPLE)
        values = sample.values[np.isfinite(sample.values)]
        if value_range is None:
            value_range = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
            if value_range[0] == value_range[1]:
                value_range = (value_range[0] - 0.5, value_range[1] + 0.5)
        low, high = value_range
        if not low < high:
            raise Invalid(N_("range must be low,high with low < high"), field="range")
        counts, edges = np.histogram(values, bins=bins, range=(low, high))
        return Histogram(
            column=column,
            edges=[float(e) for e in edges],
            counts=[int(c) for c in counts],
            entries=int(len(values)),
            sampled_rows=sample.rows,
            underflow=int(np.sum(values < low)),
            overflow=int(np.sum(values > high)),
        )


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
