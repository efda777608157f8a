"""Plain data carried between the importers, the catalogue service and the serialisers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

FILE_FIELDS = (
    "key",
    "filename",
    "uri",
    "size",
    "checksum",
    "type",
    "description",
    "availability",
    "format",
    "entries",
    "inspection",
)


@dataclass
class IndexSpec:
    """A file index to store: its key, description, the URI of its index file and its entries (lazy)."""

    key: str
    description: str | None = None
    uri: str | None = None
    entries: Iterable[dict[str, Any]] | None = None  # None: the index file could not be found
    # Hash of the entries' source (file digest or inline JSON), so reloading is cheap to compare.
    entries_digest: str = ""


@dataclass
class RecordInput:
    """A record to load: validated metadata (without files), its direct files and its file indices."""

    metadata: dict[str, Any]
    files: list[dict[str, Any]] = field(default_factory=list)
    indices: list[IndexSpec] = field(default_factory=list)
    source: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def recid(self) -> int:
        return int(self.metadata["recid"])

    def files_hash(self) -> str:
        """Digest of the files and file indices alone: what a published version may never change."""
        payload = {
            "files": self.files,
            "indices": [(i.key, i.description, i.uri, i.entries_digest) for i in self.indices],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def content_hash(self) -> str:
        """Digest of everything that defines this record version (metadata, files, index digests)."""
        payload = {
            "metadata": self.metadata,
            "files": self.files,
            "indices": [(i.key, i.description, i.uri, i.entries_digest) for i in self.indices],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def file_row(entry: dict[str, Any]) -> dict[str, Any]:
    """Only the stored file fields of ``entry``; ``key`` defaults to the basename of the URI."""
    row = {k: entry.get(k) for k in FILE_FIELDS}
    if not row["key"]:
        row["key"] = row["filename"] or (row["uri"] or "").rstrip("/").rsplit("/", 1)[-1]
    if not row["filename"]:
        row["filename"] = str(row["key"]).rsplit("/", 1)[-1]
    return row


def chunked(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
