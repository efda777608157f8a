"""BagIt (RFC 8493) packages of published record versions, made with the Library of Congress `bagit` library.

A bag holds the version's files held in this portal's storage as its payload (``data/<key>``), payload
manifests in SHA-256 and SHA-512, ``bag-info.txt`` with the DOI, title, version and creators, and tag files
``metadata/record.json`` (the record JSON, file indices summarised) and ``metadata/datacite.xml``. Files the
portal holds no copy of (CERN's ``root://eospublic…`` URIs) cannot be in the payload: they are listed with their
sizes and checksums in ``metadata/remote-files.tsv``. Every payload file is checked against its catalogued
size and adler32 while it is copied: a bag never packages damaged bytes.

The bag is built in a temporary directory beside its destination and renamed into place, so an interrupted
export leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from portal.catalog.serialize import stream_record_json
from portal.catalog.service import CatalogService
from portal.errors import Conflict, Invalid, NotFound
from portal.exports.service import ExportService
from portal.i18n import N_
from portal.storage.base import BLOCK, Storage, clean_path

CHECKSUMS = ("sha256", "sha512")


@dataclass(frozen=True)
class BagResult:
    path: Path
    recid: int
    doi: str | None
    payload_files: int
    payload_bytes: int
    remote_files: int


@dataclass(frozen=True)
class ZippedBag:
    name: str
    size: int
    chunks: Iterator[bytes]


class BagExporter:
    """Writes BagIt bags of published versions."""

    def __init__(self, catalog: CatalogService, exports: ExportService, storage: Storage, *, organisation: str) -> None:
        self.catalog = catalog
        self.exports = exports
        self.storage = storage
        self.organisation = organisation

    def export(self, recid: int, out: Path) -> BagResult:
        """Write the bag of published version ``recid`` as the new directory ``out``.

        Raises:
            NotFound / Gone: no such published version (a concept id names its latest version).
            Invalid: ``out`` exists already.
            Conflict: a stored file differs from its catalogue entry (run `portal files audit`).
        """
        import bagit

        out = Path(out)
        if out.exists():
            raise Invalid(N_("{out} exists already; give a new directory"), out=out, field="out")
        view = self.catalog.get(recid)  # published only
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            payload_files, payload_bytes, remote = self._stage_payload(view.recid, staging)
            bag = bagit.make_bag(str(staging), self._bag_info(view.recid), processes=1, checksums=list(CHECKSUMS))
            tags = staging / "metadata"
            tags.mkdir()
            (tags / "record.json").write_text(self._record_json(view.recid), encoding="utf-8")
            xml, _ = self.exports.render(view.recid, "datacite-xml")
            (tags / "datacite.xml").write_text(xml, encoding="utf-8")
            if remote:
                lines = [
                    "uri\tsize\tchecksum",
                    *("\t".join(str(r.get(k) or "") for k in ("uri", "size", "checksum")) for r in remote),
                ]
                (tags / "remote-files.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
            for algorithm in CHECKSUMS:  # an empty payload still has its (empty) payload manifests, as RFC 8493 asks
                (staging / f"manifest-{algorithm}.txt").touch()
            bag.save()  # rewrites the tag manifests over the tag files written after make_bag
            os.chmod(staging, 0o755)  # mkdtemp's 0700 is for the build only
            os.replace(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return BagResult(out, view.recid, view.doi, payload_files, payload_bytes, len(remote))

    def zipped(self, recid: int, *, max_bytes: int) -> ZippedBag:
        """The bag of ``recid`` as a zip to stream (its exact size known first); the bag is built in a temporary
        directory, removed once the stream is consumed or closed.

        Raises:
            Invalid: the payload is larger than ``max_bytes`` (export it with `portal records bag`).
            and as :meth:`export`.
        """
        from zipstream import ZipStream

        view = self.catalog.get(recid)
        size = sum(int(r.get("size") or 0) for r in self._local_rows(view.recid))
        if size > max_bytes:
            raise Invalid(
                N_(
                    "the payload of {view_recid} is {size:,} bytes, more than the "
                    "{max_bytes:,} this route packs; use `portal records bag {view_recid} "
                    "OUT`"
                ),
                view_recid=view.recid,
                size=size,
                max_bytes=max_bytes,
                field="recid",
            )
        work = Path(tempfile.mkdtemp(prefix="portal-bag-"))
        try:
            name = f"record-{view.recid}-bag"
            self.export(view.recid, work / name)
            stream = ZipStream.from_path(str(work / name), arcname=name, sized=True)
            length = len(stream)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise

        def chunks() -> Iterator[bytes]:
            try:
                yield from stream
            finally:
                shutil.rmtree(work, ignore_errors=True)

        return ZippedBag(f"{name}.zip", length, chunks())

    # ---------------------------------------------------------------- helpers
    def _local_rows(self, recid: int) -> Iterator[dict[str, Any]]:
        for row in self._rows(recid):
            if row.get("uri") and self.storage.path_of_url(row["uri"]) is not None:
                yield row

    def _rows(self, recid: int) -> Iterator[dict[str, Any]]:
        """Every file row of the version: direct files, then the entries of each file index."""
        view = self.catalog.get(recid)
        for index_key in [None, *(i["key"] for i in view.indices)]:
            after = -1
            while True:
                page, after_next = self.catalog.find_files(recid, index_key=index_key, after=after, size=1000)
                yield from page
                if after_next is None:
                    break
                after = after_next

    def _stage_payload(self, recid: int, staging: Path) -> tuple[int, int, list[dict[str, Any]]]:
        count = total = 0
        remote: list[dict[str, Any]] = []
        seen: set[str] = set()
        for row in self._rows(recid):
            uri = row.get("uri") or ""
            path = self.storage.path_of_url(uri) if uri else None
            if path is None:
                remote.append(row)
                continue
            key = clean_path(row["key"])
            if key in seen:
                continue
            seen.add(key)
            target = staging / key
            target.parent.mkdir(parents=True, exist_ok=True)
            total += self._copy(recid, row, path, target)
            count += 1
        return count, total, remote

    def _copy(self, recid: int, row: dict[str, Any], path: str, target: Path) -> int:
        adler, size = 1, 0
        try:
            source = self.storage.open(path)
        except NotFound:
            raise Conflict(
                N_("file {key!r} is missing from storage; run `portal files audit`"), key=row["key"], record=recid
            ) from None
        with source, target.open("wb") as sink:
            while chunk := source.read(BLOCK):
                adler = zlib.adler32(chunk, adler)
                size += len(chunk)
                sink.write(chunk)
        expected = (row.get("checksum") or "").lower()
        problems = []
        if row.get("size") is not None and size != row["size"]:
            problems.append(f"size {size} != catalogued {row['size']}")
        if expected.startswith("adler32:") and f"adler32:{adler & 0xFFFFFFFF:08x}" != expected:
            problems.append(f"adler32 {adler & 0xFFFFFFFF:08x} != catalogued {expected[8:]}")
        if problems:
            raise Conflict(
                N_("file {key!r} differs from the catalogue ({problems}); run `portal files audit`"),
                key=row["key"],
                problems="; ".join(problems),
                record=recid,
            )
        return size

    def _bag_info(self, recid: int) -> dict[str, Any]:
        rec = self.exports.record(recid)
        info: dict[str, Any] = {
            "Source-Organization": self.organisation,
            "External-Identifier": [f"doi:{rec.doi}"] if rec.doi else [],
            "External-Description": (rec.description or rec.title)[:1000].replace("\n", " "),
            "Internal-Sender-Identifier": f"{rec.base_url.rstrip('/')}/record/{rec.recid}",
            "Title": rec.title,
            "Version": rec.version_label or str(rec.view.version_index),
            "Creator": [p.name for p in rec.creators],
            "Date-Published": str(rec.md.get("date_published", "")),
            "Bagging-Date": datetime.now(UTC).date().isoformat(),
        }
        if rec.concept_doi:
            info["External-Identifier"].append(f"doi:{rec.concept_doi}")
            info["Concept-DOI"] = rec.concept_doi
        if rec.doi:
            info["DOI"] = rec.doi
        if rec.license_id:
            info["License"] = rec.license_id
        return {k: v for k, v in info.items() if v not in ("", [], None)}

    def _record_json(self, recid: int) -> str:
        view = self.catalog.get(recid)
        text = "".join(stream_record_json(view, self.exports.base_url, indices="summary", entries=lambda k: []))
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
