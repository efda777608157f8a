"""Background jobs over HTTP (`/api/jobs`: one job, the listing, cancelling), and where a record's DOI
registrations stand with a link to the job sending them (`/api/records/<recid>/pids/registrations`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request, url_for

from portal.jobqueue.access import QueueJobs, job_json
from portal.jobqueue.base import Entry
from portal.web import services
from portal.web.auth import principal
from portal.web.i18n import translate_message
from portal.web.request import QueryURL, flag_arg, int_arg, paginate

bp = Blueprint("jobs", __name__)


def _with_links(entry: Entry) -> dict[str, Any]:
    """The job's JSON with links to itself, its cancelling, and the domain object it works for where the API has
    one (an analysis, an ingest's or a DOI's record)."""
    links = {"self": url_for("jobs.api_job", job_id=entry.id, _external=True)}
    if entry.state in ("queued", "running"):
        links["cancel"] = url_for("jobs.api_cancel", job_id=entry.id, _external=True)
    payload = entry.payload
    if entry.kind == "analysis" and "job" in payload:
        links["analysis"] = url_for("analyses.api_job", job_id=int(payload["job"]), _external=True)
    elif entry.kind == "ingest" and "recid" in payload:
        links["record"] = url_for("api.record", recid=int(payload["recid"]), _external=True)
    return {**job_json(entry, translate_message), "links": links}


def queued_json(job_id: int) -> dict[str, Any]:
    """The answer to a publication queued as a job: the job, and where to follow it."""
    queue = services().queue
    entry = queue.get(job_id) if queue is not None else None
    assert entry is not None  # queued by this request
    job = _with_links(entry)
    return {"job": job, "links": {"job": job["links"]["self"]}}


@bp.get("/api/jobs")
def api_list() -> Any:
    """Jobs newest first, of one ``kind`` and in one ``state`` when asked: the caller's own (``mine=1``, or always
    for users who are neither curators nor admins)."""
    jobs = QueueJobs(services())
    page, size = int_arg("page", 1), int_arg("size", 20, maximum=services().settings.api_max_page_size)
    kind = request.args.get("kind") or None
    state = request.args.get("state") or None
    found, total = jobs.list(principal(), kind=kind, state=state, mine=flag_arg("mine"), page=page, size=size)
    url = QueryURL.of_request()
    url.args.update(page=[str(page)], size=[str(size)])
    links = paginate(url, page=page, has_next=page * size < total)
    hits = [_with_links(entry) for entry in found]
    return jsonify({"hits": hits, "total": total, "page": page, "size": size, "links": links})


@bp.get("/api/jobs/<int:job_id>")
def api_job(job_id: int) -> Any:
    return jsonify(_with_links(QueueJobs(services()).get(job_id, principal())))


@bp.post("/api/jobs/<int:job_id>/cancel")
def api_cancel(job_id: int) -> Any:
    """Cancel a queued job at once (200) or a running one when its task next checks (202, still running)."""
    entry = QueueJobs(services()).cancel(job_id, principal())
    return jsonify(_with_links(entry)), 202 if entry.state == "running" else 200


@bp.get("/api/records/<int:recid>/pids/registrations")
def api_registrations(recid: int) -> Any:
    """Where the registration of the record's DOI and its concept's stands (its owner, curators and admins see
    them; anyone else an empty list), with a link to the `pids.register` job that sends them."""
    svc = services()
    target = svc.access.require_record(principal(), recid)  # 404 for none (or a restricted one); a concept: latest
    registrations = svc.registrations.of_record(target, principal()) if svc.registrations is not None else []
    hits = []
    for registration in registrations:
        found = svc.queue.find(f"pids.register:{registration.doi}") if svc.queue is not None else None
        links = {"job": url_for("jobs.api_job", job_id=found.id, _external=True)} if found is not None else {}
        hits.append({**registration.to_json(), "links": links})
    return jsonify({"recid": target, "provider": svc.settings.pid_provider, "registrations": hits})
