"""The fixity audit as a scheduled job: one call with nothing but the settings, so any scheduler can run it -
`portal files audit --schedule`, the embedded stack's thread, cron, a Kubernetes CronJob, or a job queue
(its arguments and result are plain data, so a queue can store and pass them)."""

from __future__ import annotations

from typing import Any

from portal.settings import Settings, load_settings


def scheduled_audit(settings: Settings | dict[str, Any] | None = None) -> dict[str, Any]:
    """Audit every stored file at the `audit_rate` of ``settings`` (a Settings, a dict of overrides, or None
    for the environment's), write the report where `/metrics` and `latest.json` readers find it, and return it
    as :meth:`AuditReport.to_json` gives it. Findings are logged as alerts; they do not raise."""
    from portal.services import build_services

    if not isinstance(settings, Settings):
        settings = load_settings(settings or {})
    svc = build_services(settings)
    try:
        report = svc.preservation.audit_files(rate=settings.audit_rate * 1e6 or None)
    finally:
        svc.close()
    return report.to_json()
