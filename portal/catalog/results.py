"""What the catalogue service returns: typed results (dataclasses, and two named pairs).

Record metadata and file rows inside them stay plain dicts on purpose: they are JSON documents in the CERN
Open Data record shape (`title`, `type`, `distribution`, ...; a file row is `key`, `uri`, `size`,
`checksum`, ...), validated by the record schema, open to fields the portal does not know, and served as
they are by the API and the exports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple


@dataclass(frozen=True)
class LoadResult:
    """What loading did to one record: ``action`` is "created", "updated" or "unchanged"."""

    recid: int
    action: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class FilePage:
    """One page of a page-numbered file listing: file rows, the listing's total and the page asked for."""

    items: list[dict[str, Any]]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        """Number of pages (at least 1, so an empty listing still has a first and last page)."""
        return max(1, -(-self.total // self.size))


class FileSlice(NamedTuple):
    """Files after a cursor: file rows (each with its ``position``) and the cursor of the next slice, None at
    the end. A named pair, so callers may still unpack it as ``items, next_cursor``."""

    items: list[dict[str, Any]]
    next_cursor: int | None


class Resolved(NamedTuple):
    """What a recid names: the version to show, and whether the recid was a concept id (then that version is
    the concept's latest published one). A named pair: ``target, is_concept = catalog.resolve(recid)``."""

    recid: int
    is_concept: bool


@dataclass(frozen=True)
class RecordView:
    """A record version as the web and CLI layers see it.

    ``metadata`` is the stored record JSON; ``files`` are its direct file rows (the first 1000, in order) and
    ``indices`` the summaries of its file indices (`key`, `description`, `uri`, `number_files`, `size`).
    """

    recid: int
    concept_recid: int
    concept_doi: str | None
    doi: str | None
    status: str
    version_index: int
    is_latest: bool
    latest_recid: int | None
    revision: int
    metadata: dict[str, Any]
    files: list[dict[str, Any]]
    indices: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    owner_id: int | None = None  # the user who started this version (None: loaded by the command line)
