"""Analysis jobs over HTTP: `POST /api/analyses` (queued for a worker), the listing, cancelling, job JSON, plots
and histogram downloads, and the job page."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify, render_template, request, url_for

from portal.errors import Invalid, PortalError, Unavailable
from portal.extras import require
from portal.i18n import N_
from portal.identity import policy
from portal.web import services
from portal.web.auth import principal
from portal.web.i18n import translate_message
from portal.web.limits import limit_analyses
from portal.web.request import QueryURL, bounded_id, client_ip, flag_arg, int_arg, json_body, paginate

if TYPE_CHECKING:  # the processing extra may be absent; the routes then answer 503 naming it
    from portal.catalog.results import RecordView
    from portal.processing.jobs import JobService
    from portal.processing.model import JobSummary

bp = Blueprint("analyses", __name__)


def _jobs() -> JobService:
    jobs = services().analyses
    if jobs is None:
        require("processing", N_("analysis jobs"))
        raise Unavailable(N_("analysis jobs are not configured"))
    return jobs


def _links(job: JobSummary) -> dict[str, Any]:
    """The job's JSON with the links to its page, itself and, once done, its plots and downloads."""
    links = {
        "self": url_for("analyses.api_job", job_id=job.id, _external=True),
        "html": url_for("analyses.page", job_id=job.id, _external=True),
    }
    if job.state == "done":
        links.update(
            {f"plot_{f}": url_for("analyses.api_plot", job_id=job.id, fmt=f, _external=True) for f in ("png", "svg")}
        )
        links.update(
            {
                f"histogram_{f}": url_for("analyses.api_histogram", job_id=job.id, fmt=f, _external=True)
                for f in ("json", "h5", "root")
            }
        )
    # a failure reason stored as a message id is shown in the reader's language (old rows: their English text)
    return {**job.to_json(), "error": job.localized_error(translate_message), "links": links}


@bp.post("/api/analyses")
@limit_analyses
def api_create() -> Any:
    _jobs()  # a portal without the processing extra says so (503) to everyone
    who = principal()
    policy.require_scope(who, "analyses:run")  # before reading the body: anonymous callers learn to sign in first
    body = json_body()
    if not isinstance(body, dict):
        raise Invalid(
            N_(
                'send a JSON object: {"analysis": NAME, "dataset": RECID, "executor"?: '
                '..., "skip_bad_files"?: bool, "parameters"?: {...}}'
            )
        )
    unknown = set(body) - {"analysis", "dataset", "executor", "skip_bad_files", "parameters"}
    if unknown:
        raise Invalid(N_("unknown field(s): {names}"), names=", ".join(sorted(unknown)), field=sorted(unknown)[0])
    recid = bounded_id(body.get("dataset"), "dataset")
    skip = body.get("skip_bad_files", False)
    if not isinstance(skip, bool):
        raise Invalid(N_("skip_bad_files must be true or false"), field="skip_bad_files")
    executor = body.get("executor")
    if executor is not None and not isinstance(executor, str):
        raise Invalid(N_("executor must be a string"), field="executor")
    analysis = body.get("analysis")
    if not isinstance(analysis, str) or not analysis:
        raise Invalid(N_("analysis must be a built-in name, an installed analysis or 'module:Class'"), field="analysis")
    policy.require_run_analysis(who, own_code=":" in analysis)
    jobs = _jobs()
    services().access.require_files(principal(), recid)  # an analysis reads the dataset's bytes
    job = jobs.create(
        analysis,
        recid,
        executor=executor,
        skip_bad_files=skip,
        parameters=body.get("parameters"),
        owner_id=who.user_id,
    )
    response = jsonify(_links(job))
    response.status_code = 202
    response.headers["Location"] = url_for("analyses.api_job", job_id=job.id)
    return response


@bp.get("/api/analyses")
def api_list() -> Any:
    """Jobs newest first, a page of ``size`` at a time: the caller's own (``mine=1``, or always for users who
    are not curators), over one ``dataset`` and in one ``state`` when asked."""
    jobs = _jobs()
    owner = policy.job_listing_owner(principal(), mine=flag_arg("mine"))
    page, size = int_arg("page", 1), int_arg("size", 20, maximum=services().settings.api_max_page_size)
    raw_recid = request.args.get("dataset")
    recid = bounded_id(raw_recid, "dataset") if raw_recid is not None else None
    state = request.args.get("state") or None
    found = jobs.list(size, offset=(page - 1) * size, owner_id=owner, dataset_recid=recid, state=state)
    url = QueryURL.of_request()
    url.args.update(page=[str(page)], size=[str(size)])
    links = paginate(url, page=page, has_next=page * size < found.total)
    return jsonify(
        {"hits": [_links(j) for j in found.items], "total": found.total, "page": page, "size": size, "links": links}
    )


@bp.post("/api/analyses/<int:job_id>/cancel")
def api_cancel(job_id: int) -> Any:
    """Cancel a queued job at once (200) or a running one at the first chunk boundary after its worker hears of it
    (202, still running; a job that ends first stays done)."""
    jobs = _jobs()
    who = principal()
    policy.require_scope(who, "analyses:run")  # anonymous callers learn to sign in before whether the job exists
    job = jobs.cancel(job_id, who)
    return jsonify(_links(job)), 202 if job.state == "running" else 200


@bp.get("/api/analyses/<int:job_id>")
def api_job(job_id: int) -> Any:
    return jsonify(_links(_jobs().get(job_id)))


@bp.get("/api/analyses/<int:job_id>/plot.<fmt>")
def api_plot(job_id: int, fmt: str) -> Any:
    body, mimetype = _jobs().plot(
        job_id,
        fmt,
        request.args.get("name"),
        bins=int_arg("bins", 0, minimum=0),  # 0: the default number of display bins
        scale=request.args.get("scale", "auto"),
    )
    return Response(body, mimetype=mimetype)


@bp.get("/api/analyses/<int:job_id>/histogram.<fmt>")
def api_histogram(job_id: int, fmt: str) -> Any:
    body, mimetype = _jobs().histogram(job_id, fmt, request.args.get("name"))
    return Response(
        body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="analysis-{job_id}.{fmt}"'}
    )


@bp.post("/api/analyses/<int:job_id>/publish")
def api_publish(job_id: int) -> Any:
    who = principal()
    policy.require_scope(who, "deposit:publish")
    policy.require_publish_job(who, _jobs().get(job_id).owner_id)
    body = json_body() or {}
    if not isinstance(body, dict):
        raise Invalid(N_('send a JSON object: {"software"?: RECID, "title"?: TEXT}'))
    software = body.get("software")
    if software is not None and (isinstance(software, bool) or not isinstance(software, int)):
        raise Invalid(N_("software must be a record id (integer)"), field="software")
    title = body.get("title")
    if title is not None and not isinstance(title, str):
        raise Invalid(N_("title must be a string"), field="title")
    out = _jobs().publish(job_id, title=title, software_recid=software)
    services().audit.add(who, "record.publish", f"record {out.recid}", {"job": job_id}, ip=client_ip())
    return jsonify({**out.to_json(), "record": url_for("api.record", recid=out.recid, _external=True)}), 201


@bp.get("/analyses/<int:job_id>")
def page(job_id: int) -> Any:
    from portal.processing.display import cutflow_rows

    found = _jobs().get(job_id)
    job = _links(found)
    cutflow = cutflow_rows((job.get("result") or {}).get("cutflow") or {})
    manage = policy.may_see_job(principal(), found.owner_id)  # its owner or a curator: cancel, publish
    software = _software_for(found.analysis) if manage and found.state == "done" and not found.derived_recid else []
    return render_template("analyses/job.html", job=job, cutflow=cutflow, manage=manage, software=software)


def _software_for(analysis: str) -> list[tuple[int, str]]:
    """Software records a result may name as its code (isCompiledBy): the record providing the analysis (``NAME@RECID``)
    first, then those that mention the analysis."""
    from portal.processing.software import parse_spec
    from portal.search.results import SearchRequest

    def label(v: RecordView) -> str:
        return f"{v.metadata.get('title')} (record {v.recid}, version {v.metadata.get('version') or '–'})"

    provided = parse_spec(analysis)
    choices: list[tuple[int, str]] = []
    if provided is not None:
        with contextlib.suppress(PortalError):  # gone or hidden since the job ran: the others are still offered
            choices.append((provided[1], label(services().catalog.get(provided[1]))))
    try:
        found = services().browse.search(SearchRequest(q=analysis, filters={"type": ["Software"]}, size=10))
    except PortalError:  # search down: the form still takes a record id
        return choices
    return choices + [(v.recid, label(v)) for v in found.hits if v.recid not in dict(choices)]
