"""Depositing from the browser: choose a type (`/deposit/new`), fill its form (generated from the type's schema,
portal.deposit.forms), edit the draft and its files (`/deposit/<recid>`), preview its landing page, publish, and
start a new version of a published record. The views call the deposit service the API calls (portal.web.deposit),
so both refuse the same things. Files are sent by the page's script over tus (/api/uploads/, session + CSRF
header); without JavaScript, a multipart form sends them whole.

A form refused for its content is shown again as it was sent, each message at its field, with the error's status;
nothing is written. An anonymous visitor is sent to sign in and back.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from portal.catalog.results import RecordView
from portal.deposit import forms
from portal.deposit.service import DraftFile
from portal.errors import Conflict, Invalid, InvalidFields, PortalError
from portal.i18n import N_
from portal.identity import policy
from portal.web import services
from portal.web.auth import principal
from portal.web.i18n import translate_message

bp = Blueprint("deposit_pages", __name__)

#: where a new draft's form puts the cursor first
FIRST_FIELD = "title"


def _signin_redirect() -> Any:
    """Anonymous visitors sign in first, then come back here (a GET page, so a form's path is its page's)."""
    return redirect(url_for("auth.signin", next=request.path), code=303)


def _errors(err: PortalError) -> tuple[dict[str, str], str | None]:
    """(message by field, message for the whole form) of a refusal, in the reader's language."""
    if isinstance(err, InvalidFields):
        return {str(e.field): e.localized_detail(translate_message) for e in err.errors}, None
    if err.field and isinstance(err, Invalid):
        return {err.field: err.localized_detail(translate_message)}, None
    return {}, err.localized(translate_message)


def _render_form(
    slug: str,
    metadata: dict[str, Any],
    *,
    view: RecordView | None = None,
    files: list[DraftFile] | None = None,
    error: PortalError | None = None,
    status: int = 200,
) -> Any:
    field_errors, general = _errors(error) if error is not None else ({}, None)
    known = {f.name for f in _flat(forms.fields(slug, metadata))}
    # a message about a field the form does not show (set through the API) is shown above the form, not lost
    general_parts = [general] if general else []
    general_parts += [f"{name}: {message}" for name, message in field_errors.items() if name not in known]
    publish_refusal = review_by = None
    review_choices: list[Any] = []
    publishing = services().deposit.publishing(view.recid) if view is not None else None
    if view is not None:
        # a draft for a curated collection its owner does not curate is submitted for review, not refused
        target = services().review.target(view)
        if target is not None and not target.is_curator(principal()):
            review_by = target.title
        else:
            # a draft naming no curated collection may still be sent to one from here (not only through the API)
            review_choices = services().review.submit_choices(principal()) if target is None else []
            try:
                services().deposit.require_publish(view, actor=principal())
            except PortalError as err:
                publish_refusal = err.localized_detail(translate_message)
    html = render_template(
        "deposit/edit.html",
        slug=slug,
        kind=forms.TYPES[slug],
        form=forms.fields(slug, metadata),
        errors=field_errors,
        general=" ".join(general_parts) or None,
        view=view,
        files=files or [],
        publish_refusal=publish_refusal,
        publishing=publishing,
        review_by=review_by,
        review_choices=review_choices,
        saved=request.args.get("saved") == "1" and error is None,
    )
    return html, status


def _flat(items: list[forms.Field | forms.Group]) -> list[forms.Field]:
    out: list[forms.Field] = []
    for item in items:
        if isinstance(item, forms.Group):
            for row in item.rows:
                out.extend(row)
        else:
            out.append(item)
    return out


@bp.get("/deposit/new")
def new() -> Any:
    if not principal().authenticated:
        return _signin_redirect()
    return render_template("deposit/new.html", types=forms.TYPES)


@bp.route("/deposit/new/<slug>", methods=["GET", "POST"])
def new_of_type(slug: str) -> Any:
    who = principal()
    if not who.authenticated:
        return _signin_redirect()
    forms.type_schema(slug)  # 404 for a type without a form
    if request.method == "GET":
        # today as the publication date: what most depositors mean, and changed before publishing when not
        return _render_form(slug, {"type": {"primary": forms.TYPES[slug]}, "date_published": date.today().isoformat()})
    metadata = forms.metadata_from_form(slug, request.form)
    try:
        view = services().deposit.create(metadata, actor=who)
    except Invalid as err:
        return _render_form(slug, metadata, error=err, status=err.status)
    return redirect(url_for("deposit_pages.edit", recid=view.recid), code=303)


def _draft(recid: int) -> tuple[RecordView, str]:
    """The draft when the visitor may change it (404/403 otherwise), and its form's slug."""
    view = services().deposit.draft(recid, actor=principal())
    slug = forms.slug_of((view.metadata.get("type") or {}).get("primary"))
    if slug is None:
        raise Invalid(
            N_("this draft's type has no deposit form; change it through the API (/api/records/{recid}/draft)"),
            field="type",
            recid=recid,
        )
    return view, slug


@bp.route("/deposit/<int:recid>", methods=["GET", "POST"])
def edit(recid: int) -> Any:
    who = principal()
    if not who.authenticated:
        return _signin_redirect()
    view, slug = _draft(recid)
    deposit = services().deposit
    if request.method == "GET":
        return _render_form(slug, view.metadata, view=view, files=deposit.files(recid, actor=who))
    metadata = forms.metadata_from_form(slug, request.form, view.metadata)
    try:
        deposit.update(recid, metadata, actor=who)
    except Invalid as err:
        files = deposit.files(recid, actor=who)
        return _render_form(slug, metadata, view=view, files=files, error=err, status=err.status)
    return redirect(url_for("deposit_pages.edit", recid=recid, saved=1), code=303)


@bp.post("/deposit/<int:recid>/files")
def upload_files(recid: int) -> Any:
    """The form's file input without JavaScript: each file sent whole (declared, streamed, committed)."""
    who = principal()
    policy.require_scope(who, "deposit:write")
    sent = [f for f in request.files.getlist("file") if f.filename]
    if not sent:
        raise Invalid(N_("choose at least one file to upload"), field="file")
    for item in sent:
        services().deposit.put_file(recid, item.filename or "", item.stream, actor=who)
    return redirect(url_for("deposit_pages.edit", recid=recid) + "#files-h", code=303)


@bp.post("/deposit/<int:recid>/files/<path:key>/delete")
def delete_file(recid: int, key: str) -> Any:
    services().deposit.delete(recid, key, actor=principal())
    return redirect(url_for("deposit_pages.edit", recid=recid) + "#files-h", code=303)


@bp.post("/deposit/<int:recid>/doi")
def reserve_doi(recid: int) -> Any:
    """Reserve the DOI the draft will be published under (the API's `POST …/draft/pids/doi`)."""
    services().deposit.reserve_doi(recid, actor=principal())
    return redirect(url_for("deposit_pages.edit", recid=recid) + "#publish-h", code=303)


@bp.get("/deposit/<int:recid>/preview")
def preview(recid: int) -> Any:
    """The landing page the draft will have, rendered by the record page's template, marked as a preview."""
    who = principal()
    if not who.authenticated:
        return _signin_redirect()
    view = services().deposit.draft(recid, actor=who)
    rows = [
        {"key": f.key, "size": f.size if f.size is not None else f.received, "checksum": f.adler32}
        for f in services().deposit.files(recid, actor=who)
    ]
    with services().db.shared_reads():
        page = services().browse.draft_page(view, rows)
        return render_template(
            "record.html",
            preview=True,
            r=page.view,
            md=page.view.metadata,
            versions=page.versions,
            sections=_sections(),
            outgoing=page.outgoing,
            incoming=page.incoming,
            jsonld=page.jsonld,
            citations=page.citations,
            export=page.export,
            base=services().settings.base_url.rstrip("/"),
            launch_env=None,
            filebox={"files": page.files.files, "q": "", "paged": False, "next": None, "first": None},
            access=services().access.state(page.view.metadata),
            registrations=[],
            cited_by=None,
            may_cite=False,
            open_envs=[],
            open_env=None,
            chain=None,
            analyse=None,
        )


def _sections() -> Any:
    from portal.web.pages import SECTIONS

    return SECTIONS


@bp.post("/deposit/<int:recid>/publish")
def publish(recid: int) -> Any:
    who = principal()
    deposit = services().deposit
    try:
        # the API's publish action: a draft for a curated collection becomes a review request
        # the page's review form names the curated collection it goes to; the publish form names none
        collection = request.form.get("collection") or None
        outcome = services().review.publish(recid, actor=who, collection=collection, queue_large=True)
    except PortalError as err:
        if err.status >= 500 or err.status in (401, 404):
            raise
        view, slug = _draft(recid)  # the draft's page again, with why it was not published
        files = deposit.files(recid, actor=who)
        return _render_form(slug, view.metadata, view=view, files=files, error=err, status=err.status)
    if outcome.request is not None:
        return redirect(url_for("account.my_uploads"), code=303)  # where its owner follows the request's state
    if outcome.job is not None:  # a large deposit: its page says how far the publishing job is
        return redirect(url_for("deposit_pages.edit", recid=recid), code=303)
    return redirect(url_for("pages.record", recid=recid), code=303)


@bp.post("/records/<int:recid>/new-version")
def new_version(recid: int) -> Any:
    """A new version of a published record: a draft prefilled from the latest version (metadata and files)."""
    try:
        view = services().deposit.new_version(recid, actor=principal())
    except Conflict as err:
        pending = err.params.get("recid")
        if not isinstance(pending, int):
            raise
        # the concept has a draft new version already (a second click, another tab): continue that one
        services().deposit.draft(pending, actor=principal())  # when the visitor may change it
        return redirect(url_for("deposit_pages.edit", recid=pending), code=303)
    return redirect(url_for("deposit_pages.edit", recid=view.recid), code=303)
