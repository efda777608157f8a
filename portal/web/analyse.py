"""Analysing from the web: the dataset page's form (`POST /analyses/new`), the job list (`/analyses`), two runs
compared (`/analyses/compare`), publishing a result from its page, and re-running a published one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for

from portal.errors import Invalid
from portal.i18n import N_
from portal.identity import policy
from portal.web import services
from portal.web.analyses import _jobs, _links
from portal.web.auth import principal
from portal.web.limits import limit_analyses
from portal.web.request import bounded_id, client_ip, int_arg

if TYPE_CHECKING:
    from portal.processing.model import Job

bp = Blueprint("analyse", __name__)

#: how many jobs each list of the /analyses page shows
LIST_SIZE = 50


def _form_id(name: str) -> int:
    return bounded_id(request.form.get(name, "").strip() or None, name)


@bp.post("/analyses/new")
@limit_analyses
def create() -> Any:
    """The Analyse panel's form: analysis, dataset, executor, skip_bad_files and a ``param.<analysis>.<name>``
    field per declared parameter (the form offers several analyses; only the chosen one's are read); the job
    starts and the browser goes to its page."""
    jobs = _jobs()
    who = principal()
    policy.require_signed_in(who)  # anonymous job creation is refused: a job has an owner and a quota
    recid = _form_id("dataset")
    analysis = request.form.get("analysis", "").strip()
    if not analysis:
        raise Invalid(N_("choose an analysis"), field="analysis")
    policy.require_run_analysis(who, own_code=":" in analysis)
    services().access.require_files(who, recid)  # an analysis reads the dataset's bytes
    prefix = f"param.{analysis}."
    parameters = {k.removeprefix(prefix): v for k, v in request.form.items() if k.startswith(prefix)}
    skip = request.form.get("skip_bad_files", "")
    if skip not in ("", "on", "true", "false"):
        raise Invalid(N_("skip_bad_files must be on or off"), field="skip_bad_files")
    job = jobs.create(
        analysis,
        recid,
        executor=request.form.get("executor") or None,
        skip_bad_files=skip in ("on", "true"),
        parameters=parameters,
        owner_id=who.user_id,
    )
    return redirect(url_for("analyses.page", job_id=job.id), code=303)


@bp.get("/analyses")
def index() -> Any:
    """Jobs: mine (signed in), the most recent, and those over one dataset (``?dataset=RECID``)."""
    jobs = _jobs()
    who = principal()
    dataset = request.args.get("dataset", "").strip()
    recid = bounded_id(dataset, "dataset") if dataset else None
    if not who.authenticated:  # jobs are their owners' (and curators'): anonymous visitors are asked to sign in
        return render_template("analyses/index.html", mine=None, recent=None, dataset=recid, by_dataset=None)
    owner = policy.job_listing_owner(who, mine=False)  # curators see everyone's, other users their own
    return render_template(
        "analyses/index.html",
        mine=jobs.list(LIST_SIZE, owner_id=who.user_id).items if who.user_id is not None else None,
        recent=jobs.list(LIST_SIZE, owner_id=owner).items,
        dataset=recid,
        by_dataset=jobs.list(LIST_SIZE, owner_id=owner, dataset_recid=recid).items if recid is not None else None,
    )


def _pair() -> tuple[Job, Job]:
    jobs = _jobs()
    a, b = int_arg("a", 0, minimum=1), int_arg("b", 0, minimum=1)
    if not a or not b:
        raise Invalid(N_("give two job ids: ?a=JOB&b=JOB"), field="a" if not a else "b")
    return jobs.get(a), jobs.get(b)


@bp.get("/api/analyses/compare")
def api_compare() -> Any:
    from portal.processing.compare import compare

    a, b = _pair()
    return jsonify(
        {
            **compare(a, b).to_json(),
            "jobs": [_links(a), _links(b)],
            "plot": url_for("analyse.api_compare_plot", fmt="svg", a=a.id, b=b.id, _external=True),
        }
    )


@bp.get("/api/analyses/compare/plot.<fmt>")
def api_compare_plot(fmt: str) -> Any:
    from portal.processing import compare

    a, b = _pair()
    body, mimetype = compare.plot(
        a,
        b,
        fmt,
        request.args.get("name"),
        bins=int_arg("bins", 0, minimum=0) or compare.DISPLAY_BINS,
        scale=request.args.get("scale", "auto"),
    )
    return Response(body, mimetype=mimetype)


@bp.get("/analyses/compare")
def compare_page() -> Any:
    from portal.processing.compare import compare

    a, b = _pair()
    result = compare(a, b)
    return render_template("analyses/compare.html", a=_links(a), b=_links(b), cmp=result)


@bp.post("/analyses/<int:job_id>/publish")
def publish(job_id: int) -> Any:
    """The job page's publish form: a Derived record with the result files, then its page."""
    jobs = _jobs()
    who = principal()
    policy.require_signed_in(who)
    policy.require_publish_job(who, jobs.get(job_id).owner_id)
    software = request.form.get("software", "").strip()
    title = request.form.get("title", "").strip() or None
    out = jobs.publish(job_id, title=title, software_recid=bounded_id(software, "software") if software else None)
    services().audit.add(who, "record.publish", f"record {out.recid}", {"job": job_id}, ip=client_ip())
    return redirect(url_for("pages.record", recid=out.recid), code=303)


@bp.post("/record/<int:recid>/rerun")
@limit_analyses
def rerun(recid: int) -> Any:
    """Re-run the analysis a Derived record was published from, with its pinned parameters, over the same dataset
    version; the comparison page then says whether the integer bins are identical."""
    jobs = _jobs()
    who = principal()
    policy.require_signed_in(who)
    original = jobs.published_as(recid)
    policy.require_run_analysis(who, own_code=":" in original.analysis)
    services().access.require_files(who, original.dataset_recid)
    job = jobs.create(
        original.analysis,
        original.dataset_recid,
        executor=original.executor,
        skip_bad_files=original.skip_bad_files,
        parameters=original.parameters,
        owner_id=who.user_id,
        # a software record's analysis re-runs in the environment build (or spec) its original ran in
        environment=(original.provenance or {}).get("environment_build"),
    )
    return redirect(url_for("analyse.compare_page", a=original.id, b=job.id), code=303)
