"""The preservation service: fixity audits, BagIt exports and record removal (tombstones), built once in
`portal/services.py`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from portal.catalog.service import CatalogService
from portal.db.engine import Database
from portal.db.models import Record
from portal.exports.service import ExportService
from portal.identity.audit import AuditLog
from portal.identity.principal import Principal
from portal.preservation.bag import BagExporter, BagResult
from portal.preservation.fixity import AuditReport, FixityAuditor
from portal.storage.base import Storage


class PreservationService:
    def __init__(
        self,
        db: Database,
        catalog: CatalogService,
        exports: ExportService,
        storage: Storage,
        audit_log: AuditLog,
        *,
        reports_dir: Path,
        organisation: str,
    ) -> None:
        self.catalog = catalog
        self.exports = exports
        self.audit_log = audit_log
        self.fixity = FixityAuditor(db, storage, reports_dir)
        self.bags = BagExporter(catalog, exports, storage, organisation=organisation)

    def audit_files(self, *, recid: int | None = None, rate: float | None = None) -> AuditReport:
        """See :meth:`FixityAuditor.audit`."""
        return self.fixity.audit(recid=recid, rate=rate)

    def bag(self, recid: int, out: Path) -> BagResult:
        """See :meth:`BagExporter.export`."""
        return self.bags.export(recid, out)

    def remove(self, recid: int, reason: str, principal: Principal) -> str:
        """Remove published version ``recid``, leaving a tombstone with ``reason`` and its citation (APA, as
        it was cited while published); the audit log records who did it. Returns the citation.

        Raises: see :meth:`CatalogService.remove`.
        """
        view = self.catalog.get(recid, include_drafts=True)  # a draft is refused by the catalogue, naming why
        citation = self.exports.render_record(self.exports.record(view.recid, view), "apa")[0].strip()

        def log(s: Session, rec: Record) -> None:
            self.audit_log.add(principal, "record.remove", str(rec.recid), {"reason": reason}, session=s)

        self.catalog.remove(recid, reason=reason, citation=citation, also=log)
        return citation
