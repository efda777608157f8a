"""Fixity audits: re-read every stored file through the storage seam and compare it with the catalogue.

A file row of the catalogue names its bytes by URI, size and checksum (``adler32:…``, or ``sha256:…`` / ``md5:…``
when recorded so). The audit groups rows by the storage path their URI points to (a new version shares the
files of the previous one), reads each path once at a bounded rate, and reports:

- ``mismatch``: the size or a checksum differs from a row's (a flipped byte, a truncated copy);
- ``missing``: a catalogued path is absent from storage;
- ``unexpected``: a file in storage no row names (full audits only: a record-scoped audit cannot tell).

Rows whose URI is held elsewhere (CERN's ``root://eospublic…``) are not the portal's to check and are skipped.
Each run writes a JSON report under ``<var_dir>/audits/`` (and ``latest.json``) and logs every finding as a
warning on the ``portal.preservation.alerts`` logger, where operators hook their alerting.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from portal.db.engine import Database
from portal.db.models import File, Record
from portal.errors import Invalid, NotFound, PortalError
from portal.i18n import N_
from portal.storage.base import BLOCK, Storage

alerts = logging.getLogger("portal.preservation.alerts")
log = logging.getLogger(__name__)

#: checksum algorithms the audit can verify, by the prefix of the catalogue's checksum strings
ALGORITHMS = ("adler32", "sha256", "sha512", "md5", "sha1")


@dataclass(frozen=True)
class Finding:
    """One problem: ``kind`` is mismatch, missing, unexpected or unreadable; ``files`` the (recid, key) rows
    naming the path (empty for an unexpected file)."""

    kind: str
    path: str
    detail: str
    files: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class AuditReport:
    """What one audit saw. ``ok`` when it found nothing."""

    started: datetime
    finished: datetime
    recid: int | None
    files_checked: int
    bytes_read: int
    skipped_remote: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def count(self, kind: str) -> int:
        return sum(f.kind == kind for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started.isoformat().replace("+00:00", "Z"),
            "finished": self.finished.isoformat().replace("+00:00", "Z"),
            "recid": self.recid,
            "files_checked": self.files_checked,
            "bytes_read": self.bytes_read,
            "skipped_remote": self.skipped_remote,
            "ok": self.ok,
            "findings": [{**asdict(f), "files": [list(x) for x in f.files]} for f in self.findings],
        }


@dataclass
class _Expected:
    size: int | None
    checksums: dict[str, str]  # algorithm -> lower-case hex
    files: list[tuple[int, str]]
    removed_only: bool = True  # named only by removed records (tombstones): their bytes may have been deleted


class RateLimiter:
    """Keeps reads at or below ``bytes_per_second`` (None or 0: unlimited) by sleeping between blocks."""

    def __init__(
        self,
        bytes_per_second: float | None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = bytes_per_second or None
        self.sleep = sleep
        self.clock = clock
        self.start = clock()
        self.done = 0

    def consumed(self, n: int) -> None:
        self.done += n
        if self.rate:
            ahead = self.done / self.rate - (self.clock() - self.start)
            if ahead > 0:
                self.sleep(ahead)


class FixityAuditor:
    """Audits the catalogue's files in ``storage``; reports go to ``reports_dir``."""

    def __init__(self, db: Database, storage: Storage, reports_dir: Path) -> None:
        self.db = db
        self.storage = storage
        self.reports_dir = Path(reports_dir)

    def audit(self, *, recid: int | None = None, rate: float | None = None, block: int = BLOCK) -> AuditReport:
        """Audit every stored file (or the files of version ``recid``), reading at most ``rate`` bytes/s.

        Raises:
            NotFound: when ``recid`` names no record version.
            Invalid: for a negative rate.
        """
        if rate is not None and rate < 0:
            raise Invalid(N_("the rate must be positive (bytes per second)"), field="rate")
        started = datetime.now(UTC)
        expected, remote = self._expected(recid)
        findings: list[Finding] = []
        limiter = RateLimiter(rate)
        checked = 0
        for path in sorted(expected):
            want = expected[path]
            finding = self._check(path, want, limiter, block)
            checked += 1
            if finding is not None:
                findings.append(finding)
        if recid is None:
            findings.extend(
                Finding("unexpected", path, "in storage but named by no file of the catalogue")
                for path in self._walk()
                if path not in expected
            )
        report = AuditReport(
            started=started,
            finished=datetime.now(UTC),
            recid=recid,
            files_checked=checked,
            bytes_read=limiter.done,
            skipped_remote=remote,
            findings=findings,
        )
        self._record(report)
        return report

    def latest(self) -> dict[str, Any] | None:
        """The latest report (``latest.json``, as :meth:`AuditReport.to_json` wrote it); None when no audit has
        run here or the file cannot be read (a scrape must not fail for it)."""
        try:
            report = json.loads((self.reports_dir / "latest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return report if isinstance(report, dict) else None

    # ---------------------------------------------------------------- helpers
    def _expected(self, recid: int | None) -> tuple[dict[str, _Expected], int]:
        """Storage path -> what the catalogue says of it; and how many rows point outside this storage."""
        expected: dict[str, _Expected] = {}
        remote = 0
        with self.db.reader() as s:
            if recid is not None and s.get(Record, recid) is None:
                raise NotFound(N_("there is no record version {recid}"), recid=recid, record=recid, field="recid")
            query = (
                select(File.recid, File.key, File.uri, File.size, File.checksum, Record.status)
                .join(Record, Record.recid == File.recid)
                .order_by(File.recid, File.id)
            )
            if recid is not None:
                query = query.where(File.recid == recid)
            for row_recid, key, uri, size, checksum, status in s.execute(query):
                path = self.storage.path_of_url(uri) if uri else None
                if path is None:
                    remote += 1
                    continue
                entry = expected.setdefault(path, _Expected(size, {}, []))
                entry.files.append((row_recid, key))
                entry.removed_only = entry.removed_only and status == "removed"
                if entry.size is None:
                    entry.size = size
                algorithm, _, value = (checksum or "").partition(":")
                if value and algorithm.lower() in ALGORITHMS:
                    entry.checksums.setdefault(algorithm.lower(), value.lower())
        return expected, remote

    def _check(self, path: str, want: _Expected, limiter: RateLimiter, block: int) -> Finding | None:
        files = tuple(want.files)
        try:
            fh = self.storage.open(path)
        except NotFound:
            if want.removed_only:  # a tombstone's bytes, deleted as docs/operations.md allows
                return None
            return Finding("missing", path, "catalogued but absent from storage", files)
        hashers: dict[str, Any] = {a: hashlib.new(a) for a in want.checksums if a != "adler32"}
        adler = 1
        size = 0
        try:
            with fh:
                while chunk := fh.read(block):
                    size += len(chunk)
                    if "adler32" in want.checksums:
                        adler = zlib.adler32(chunk, adler)
                    for hasher in hashers.values():
                        hasher.update(chunk)
                    limiter.consumed(len(chunk))
        except (OSError, PortalError) as exc:
            return Finding("unreadable", path, f"reading failed after {size} bytes: {exc}", files)
        problems = []
        if want.size is not None and size != want.size:
            problems.append(f"size {size} != catalogued {want.size}")
        got = {a: h.hexdigest() for a, h in hashers.items()}
        if "adler32" in want.checksums:
            got["adler32"] = f"{adler & 0xFFFFFFFF:08x}"
        for algorithm, value in sorted(want.checksums.items()):
            if got[algorithm] != value:
                problems.append(f"{algorithm} {got[algorithm]} != catalogued {value}")
        return Finding("mismatch", path, "; ".join(problems), files) if problems else None

    def _walk(self) -> Iterator[str]:
        try:
            yield from self.storage.walk("")
        except NotFound:  # an empty or absent storage root holds nothing unexpected
            return

    def _record(self, report: AuditReport) -> None:
        """Write the report (``audit-<time>.json`` and ``latest.json``, each written whole) and log the alerts."""
        for finding in report.findings:
            named = ", ".join(f"{r}/{k}" for r, k in finding.files) or "no catalogue file"
            alerts.warning("fixity %s: %s (%s): %s", finding.kind, finding.path, named, finding.detail)
        log.info(
            "fixity audit: %d file(s), %d byte(s) read, %d finding(s)",
            report.files_checked,
            report.bytes_read,
            len(report.findings),
        )
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(report.to_json(), indent=2)
        name = f"audit-{report.started.strftime('%Y%m%dT%H%M%S%fZ')}.json"
        for target in (self.reports_dir / name, self.reports_dir / "latest.json"):
            tmp = target.with_suffix(".tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, target)


class PeriodicAudit:
    """Runs ``auditor.audit(rate=rate)`` every ``interval`` seconds in a daemon thread (the embedded stack's
    scheduler until the job queue of issue 17 takes it over). A failing run is logged; the next one still runs."""

    def __init__(self, auditor: FixityAuditor, interval: float, *, rate: float | None = None) -> None:
        self.auditor = auditor
        self.interval = interval
        self.rate = rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fixity-audit", daemon=True)
        self.runs = 0

    def start(self) -> PeriodicAudit:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.auditor.audit(rate=self.rate)
            except Exception:  # noqa: BLE001 - a scheduled run must not kill the scheduler
                log.exception("scheduled fixity audit failed")
            self.runs += 1
