"""The admins' page of DOI registrations not done (`/admin/pids`) and its retry button. A record's own
registration state is shown on its page to its owner (`pages.record`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from portal.identity import policy
from portal.web import services
from portal.web.auth import principal
from portal.web.request import QueryURL, int_arg, paginate

bp = Blueprint("pids", __name__)
PAGE_SIZE = 50


@bp.get("/admin/pids")
def admin_pids() -> Any:
    policy.require_manage_registrations(principal())
    registrations = services().registrations
    page = int_arg("page", 1)
    rows, total = registrations.unfinished(page=page, size=PAGE_SIZE) if registrations else ([], 0)
    links = paginate(QueryURL(url_for("pids.admin_pids"), {}), page=page, has_next=page * PAGE_SIZE < total)
    return render_template(
        "account/admin_pids.html",
        rows=rows,
        total=total,
        links=links,
        provider=services().settings.pid_provider,
        remote=registrations is not None,
        report=request.args.get("retried"),
    )


@bp.post("/admin/pids/retry")
def admin_pids_retry() -> Any:
    policy.require_manage_registrations(principal())
    registrations = services().registrations
    report = registrations.retry(everything=True) if registrations else None
    done = f"{len(report.registered)} registered, {len(report.pending) + len(report.rejected)} not" if report else ""
    return redirect(url_for("pids.admin_pids", retried=done), code=303)
