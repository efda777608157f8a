"""CSV files (comma-separated, UTF-8, a header line): columns and rows summarised and previewed; not processed."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from portal.errors import Invalid
from portal.formats.base import MAX_COLUMNS, ColumnSample, PreviewTable, Summary, numeric
from portal.formats.sniff import looks_like_json, text_sample
from portal.formats.sources import open_source
from portal.i18n import N_

if TYPE_CHECKING:
    from portal.settings import Settings


class CSVSummary(Summary):
    columns: list[str]  # the header's names


class CSVFormat:
    """CSV files: recognised when their first lines (up to five) all hold commas, the same number in each
    complete line. Rows are counted exactly (quoted newlines included). Education samples, not event data: the
    processing engine does not read them (``processable`` is False)."""

    name = "csv"
    suffixes = (".csv",)
    processable = False
    textual = True

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> CSVFormat:
        return cls()

    def sniff(self, head: bytes, tail: bytes) -> bool:
        text = text_sample(head)
        if text is None or looks_like_json(text):
            return False
        lines = [line for line in text.splitlines()[:5] if line]
        # the last line of the sample may be cut short, so its commas are not counted
        return len(lines) >= 2 and all("," in line for line in lines) and len({ln.count(",") for ln in lines[:-1]}) == 1

    def inspect(self, source: str, size: int) -> CSVSummary:
        with open_source(source) as raw:
            reader = csv.reader(_text(raw))
            try:
                header = next(reader)
            except StopIteration:
                raise Invalid(N_("empty CSV file"), source=source) from None
        return {"format": "csv", "entries": _count_rows(source), "columns": header[:MAX_COLUMNS]}

    def preview(self, source: str, rows: int) -> PreviewTable:
        with open_source(source) as fh:
            reader = csv.reader(_text(fh))
            header = next(reader, [])
            body = [dict(zip(header, r, strict=False)) for _, r in zip(range(rows), reader, strict=False)]
            return PreviewTable(columns=header, rows=body)

    def sample(self, source: str, column: str, rows: int) -> ColumnSample:
        import pandas as pd

        with open_source(source) as fh:
            frame = pd.read_csv(fh, nrows=rows)
        if column not in frame.columns:
            raise Invalid(N_("no column {column!r} in this file"), column=column, field="column")
        return ColumnSample(numeric(frame[column].to_numpy(), column), len(frame))


def _text(raw: Any) -> io.TextIOWrapper:
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")


def _count_rows(source: str) -> int:
    """Data rows, counted as newlines in 8 MiB blocks (~8x faster than csv parsing: 0.15 s vs 1.2 s on 55 MB).

    A quoted field may hold a newline, so a file with any quote character is parsed with `csv` instead.
    """
    newlines, last = 0, b"\n"
    with open_source(source) as raw:
        while block := raw.read(8 << 20):
            if b'"' in block:
                break
            newlines += block.count(b"\n")
            last = block[-1:]
        else:
            rows = newlines + (last != b"\n")  # a last line without its newline is still a row
            return max(rows - 1, 0)  # minus the header
    with open_source(source) as raw:
        reader = csv.reader(_text(raw))
        next(reader, None)
        return sum(1 for _ in reader)
