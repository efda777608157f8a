"""The file-format interface: what ingest, the previewer and the processing engine ask of a data format.

A format is one object (:class:`FileFormat`), registered by name in the ``portal.formats`` entry-point group;
every registered format is active. :class:`portal.formats.collection.Formats` holds them for the services.
Sources are local paths, ``file://`` URLs or any URL fsspec opens (``root://`` through fsspec-xrootd).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, TypeGuard

import numpy as np

from portal.errors import Invalid
from portal.i18n import N_

if TYPE_CHECKING:
    from collections.abc import Sequence

    import awkward as ak

#: summaries stay small even for files with thousands of branches
MAX_COLUMNS = 500
#: previews show at most this many columns
PREVIEW_COLUMNS = 40


class Summary(TypedDict, total=False):
    """What ingest stores as a file's ``inspection`` (JSON). Every format gives ``format`` and ``entries`` (rows or
    events of the main table, None when the file has none); each adds its own keys (ROOT ``trees`` and
    ``compression``, HDF5 ``groups``/``datasets``/``attributes``, Parquet ``row_groups``/``columns``/``codecs``,
    CSV ``columns``)."""

    format: str
    entries: int | None


@dataclass(frozen=True)
class PreviewTable:
    """The first rows of a file as JSON-able values: ``columns`` in file order, ``rows`` as one dict per row
    (column -> value; floats that are not finite become None, long lists are cut), and an optional ``note``
    saying how to read the table."""

    columns: list[str]
    rows: list[dict[str, Any]]
    note: str | None = None


@dataclass(frozen=True)
class ColumnSample:
    """Numeric values of one column from the first ``rows`` rows of a file, as float64, jagged columns flattened
    (so ``len(values)`` may exceed ``rows``)."""

    values: np.ndarray = field(repr=False)
    rows: int


class FileFormat(Protocol):
    """One data format. Implementations are registered by name in the ``portal.formats`` entry-point group and
    built with ``from_settings(settings)``; they hold no per-file state, so one object serves every thread and
    pickles cheaply (the processing engine ships it to Dask workers with each task).

    Every format supports :meth:`sniff`, :meth:`inspect`, :meth:`preview` and :meth:`sample`. A format with
    ``processable = True`` is also a :class:`ProcessableFormat` (:meth:`ProcessableFormat.entry_boundaries`,
    :meth:`ProcessableFormat.read`); a format that is not (CSV) need not have those two methods, and callers ask
    ``processable`` (or :func:`is_processable`) before calling them rather than catching their absence.
    """

    #: the short name stored as a file's ``format`` (``"root"``); also its entry-point name
    name: str
    #: lower-case file-name suffixes files of this format are expected to carry, dot included (``".root"``)
    suffixes: tuple[str, ...]
    #: whether the processing engine can read entry ranges of named columns (see :class:`ProcessableFormat`)
    processable: bool
    #: the format's files are UTF-8 text. A text file too short or too plain for :meth:`sniff` to recognise (a
    #: CSV header with no rows yet) is sniffed as plain ``"text"``: ingest accepts it under this format's
    #: suffixes, and the previewer shows plain text as this format does
    textual: bool

    def sniff(self, head: bytes, tail: bytes) -> bool:
        """Whether content is of this format, from the file's first bytes (``head``, up to 8 KiB) and its last
        four (``tail``; empty when unknown), never from its name. Formats recognise their own magic so that no
        two formats claim the same content. Never raises."""
        ...

    def inspect(self, source: str, size: int) -> Summary:
        """The file's summary (see :class:`Summary`), from its metadata only where the format allows. ``size``
        is the file's length in bytes (a header promising more means a truncated file).

        Raises :class:`portal.errors.Invalid` naming ``source`` and the reason when the file is damaged or not
        of this format. Damage inside compressed payloads need not be detected."""
        ...

    def preview(self, source: str, rows: int) -> PreviewTable:
        """The first ``rows`` rows (events) of the file's main table, at most :data:`PREVIEW_COLUMNS` columns;
        jagged values are lists. Raises :class:`Invalid` (``field="key"``) when there is nothing to show."""
        ...

    def sample(self, source: str, column: str, rows: int) -> ColumnSample:
        """Numeric values of ``column`` (a name from :meth:`preview`'s columns) over at most the first ``rows``
        rows, for preview histograms. Raises :class:`Invalid` (``field="column"``) for a column the file does
        not have or one that is not numeric."""
        ...


class ProcessableFormat(FileFormat, Protocol):
    """A format the processing engine reads: the planner cuts files into entry ranges on
    :meth:`entry_boundaries`, and workers :meth:`read` the analysis' columns for each range.

    Reads are the hot path: implementations keep files open per thread between chunks where opening is costly,
    and return arrays without extra copies. Any exception from these methods means the file cannot be read (the
    engine reports the file by name, or skips it)."""

    def entry_boundaries(self, uri: str) -> list[int]:
        """Entry offsets, increasing from 0 to the number of entries, where reading can start cheaply: ROOT
        cluster boundaries, Parquet row groups; ``[0, entries]`` when the format has none worth following."""
        ...

    def read(self, uri: str, columns: Sequence[str], start: int, stop: int) -> ak.Array:
        """Entries ``[start, stop)`` of ``columns`` as an awkward record array with one field per column, in the
        order given (jagged columns as lists)."""
        ...


def is_processable(fmt: FileFormat) -> TypeGuard[ProcessableFormat]:
    """Whether the processing engine can read ``fmt`` (its ``processable`` attribute)."""
    return bool(fmt.processable)


def numeric(values: np.ndarray, column: str) -> np.ndarray:
    """``values`` as float64; :class:`Invalid` naming the column when they are not numbers."""
    if values.dtype.kind not in "biuf":
        raise Invalid(
            N_("column {column!r} is not numeric ({values_dtype})"),
            column=column,
            values_dtype=values.dtype,
            field="column",
        )
    return values.astype(np.float64)


def plain(value: Any) -> Any:
    """A preview cell as JSON: non-finite floats become None, lists are cut at 50 items, bytes are decoded."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value[:50]]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
