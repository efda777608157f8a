"""Pages of one's own and of admins (blueprint `account`, no JavaScript): personal access tokens
(`/settings/tokens`), my uploads, my jobs, my sessions, and the admin's user list (`/admin/users`). Permissions come
from the policy (:mod:`portal.identity.policy`); sign-in pages are :mod:`portal.web.accounts`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from portal.errors import Invalid, Unauthorized
from portal.i18n import N_
from portal.identity import policy
from portal.identity.principal import ROLES, SCOPES, Principal
from portal.web import services
from portal.web.auth import principal
from portal.web.limits import limit_token_creation
from portal.web.request import QueryURL, client_ip, int_arg, paginate

bp = Blueprint("account", __name__)

#: expiry choices offered on the token form, in days (None: never)
EXPIRY_CHOICES = (7, 30, 90, 366, None)
PAGE_SIZE = 20


def _me() -> Principal:
    """The signed-in user; anonymous visitors are sent to the sign-in page (401 where there is none)."""
    who = principal()
    try:
        policy.require_signed_in(who)
    except Unauthorized:
        if "auth.signin" in current_app.view_functions:
            raise _Redirect(url_for("auth.signin", next=request.full_path.rstrip("?"))) from None
        raise
    return who


class _Redirect(Exception):
    def __init__(self, location: str) -> None:
        self.location = location


@bp.errorhandler(_Redirect)
def _redirect(err: _Redirect) -> Any:
    return redirect(err.location, code=303)


def _form_ids(name: str) -> int:
    raw = request.form.get(name, "")
    if not raw.isdigit():
        raise Invalid(N_("{name} must be a number"), name=name, field=name)
    return int(raw)


# -- tokens -----------------------------------------------------------------------------------------------------
def _tokens_page(who: Principal, *, created: str | None = None, status: int = 200) -> Any:
    assert who.user_id is not None
    tokens = services().tokens.list(who.user_id)
    now = services().tokens.now()
    offered = {name: help for name, help in SCOPES.items() if name in who.scopes}
    page = render_template(
        "account/tokens.html",
        tokens=tokens,
        now=now,
        scopes=offered,
        expiry_choices=EXPIRY_CHOICES,
        created=created,
    )
    return page, status


@bp.get("/settings/tokens")
def tokens() -> Any:
    return _tokens_page(_me())


@bp.post("/settings/tokens")
@limit_token_creation
def tokens_create() -> Any:
    """Create a token; its secret is on the answer page only (never stored, never shown again)."""
    who = _me()
    assert who.user_id is not None
    expiry = request.form.get("expires_in_days", "90")
    if expiry not in ("never", *(str(d) for d in EXPIRY_CHOICES if d)):
        raise Invalid(N_("choose an expiry from the list"), field="expires_in_days")
    _info, secret = services().tokens.create(
        who,
        who.user_id,
        request.form.get("name", ""),
        request.form.getlist("scopes"),
        expires_in_days=None if expiry == "never" else int(expiry),
        ip=client_ip(),
    )
    return _tokens_page(who, created=secret, status=201)


@bp.post("/settings/tokens/<int:token_id>/revoke")
def tokens_revoke(token_id: int) -> Any:
    who = _me()
    services().tokens.revoke(who, token_id, ip=client_ip())
    return redirect(url_for("account.tokens"), code=303)


# -- my things --------------------------------------------------------------------------------------------------
@bp.get("/my/uploads")
def my_uploads() -> Any:
    who = _me()
    assert who.user_id is not None
    page = int_arg("page", 1)
    records, total = services().catalog.owned_by(who.user_id, page=page, size=PAGE_SIZE)
    links = paginate(QueryURL(url_for("account.my_uploads"), {}), page=page, has_next=page * PAGE_SIZE < total)
    reviews = services().review.of_records([r.recid for r in records if r.status == "draft"])
    return render_template("account/uploads.html", records=records, total=total, links=links, reviews=reviews)


# -- review: the curators' requests page, the owners' cancel, the admins' collections ----------------------------
REQUEST_STATES = ("submitted", "accepted", "declined", "cancelled")


@bp.get("/requests")
def requests_page() -> Any:
    """The review requests of the collections the signed-in user curates (and their own), by state."""
    who = _me()
    state = request.args.get("state") or "submitted"
    if state not in REQUEST_STATES:
        state = "submitted"
    page = int_arg("page", 1)
    items, total = services().review.find(actor=who, state=state, page=page, size=PAGE_SIZE)
    url = QueryURL(url_for("account.requests_page"), {"state": [state]})
    links = paginate(url, page=page, has_next=page * PAGE_SIZE < total)
    return render_template(
        "account/requests.html",
        requests=items,
        total=total,
        links=links,
        state=state,
        states=REQUEST_STATES,
        curating={c.slug for c in services().collections.curated_by(who)},
        publications=_publications(items),
    )


def _publications(items: list[Any]) -> dict[int, Any]:
    """The `deposit.publish` job of each submitted request's draft that began after the request's last change (an
    accept queued as a job: running, or failed with its reason), by request id."""
    found: dict[int, Any] = {}
    for r in items:
        job = services().deposit.publication(r.recid) if r.state == "submitted" else None
        if job is not None and job.created_at is not None and _utc(job.created_at) >= _utc(r.updated_at):
            found[r.id] = job
    return found


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite gives naive UTC times


@bp.post("/requests/<int:request_id>/<any(accept, decline, cancel):action>")
def request_action(request_id: int, action: str) -> Any:
    who = _me()
    comment = request.form.get("comment", "")
    review = services().review
    if action == "accept":
        # a large deposit is published by a job: this page shows how far it is (and why, when it fails)
        review.accept(request_id, actor=who, comment=comment, queue_large=True)
    elif action == "decline":
        review.decline(request_id, actor=who, comment=comment)
    else:
        review.cancel(request_id, actor=who, comment=comment)
        return redirect(url_for("account.my_uploads"), code=303)
    return redirect(url_for("account.requests_page"), code=303)


@bp.get("/admin/collections")
def admin_collections() -> Any:
    who = _me()
    policy.require_manage_collections(who)
    return render_template("account/admin_collections.html", collections=services().collections.all())


@bp.post("/admin/collections")
def admin_collections_create() -> Any:
    who = _me()
    form = request.form
    services().collections.create(
        who,
        form.get("slug", "").strip(),
        form.get("title", ""),
        description=form.get("description", ""),
        curated=form.get("curated") == "1",
        curator_group=form.get("curator_group", "").strip() or None,
    )
    return redirect(url_for("account.admin_collections"), code=303)


@bp.post("/admin/collections/<slug>/curators")
def admin_collections_curator(slug: str) -> Any:
    who = _me()
    services().collections.add_curator(who, slug, request.form.get("username", "").strip())
    return redirect(url_for("account.admin_collections"), code=303)


@bp.get("/my/jobs")
def my_jobs() -> Any:
    who = _me()
    assert who.user_id is not None
    jobs = services().analyses
    page = int_arg("page", 1)
    # paged as My uploads is: someone who runs many jobs reaches every one of them, not only the latest hundred
    found = jobs.list(PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, owner_id=who.user_id) if jobs is not None else None
    total = found.total if found is not None else 0
    links = paginate(QueryURL(url_for("account.my_jobs"), {}), page=page, has_next=page * PAGE_SIZE < total)
    return render_template("account/jobs.html", jobs=found.items if found else [], total=total, links=links)


@bp.get("/my/sessions")
def my_sessions() -> Any:
    who = _me()
    assert who.user_id is not None
    page = int_arg("page", 1)
    sessions, total = services().sessions.of_owner(who.user_id, page=page, size=PAGE_SIZE)
    links = paginate(QueryURL(url_for("account.my_sessions"), {}), page=page, has_next=page * PAGE_SIZE < total)
    return render_template("account/sessions.html", sessions=sessions, total=total, links=links)


# -- admins -----------------------------------------------------------------------------------------------------
@bp.get("/admin/users")
def admin_users() -> Any:
    who = _me()
    policy.require_manage_users(who)
    page = int_arg("page", 1)
    users, total = services().users.list(page=page, size=PAGE_SIZE)
    links = paginate(QueryURL(url_for("account.admin_users"), {}), page=page, has_next=page * PAGE_SIZE < total)
    return render_template(
        "account/admin_users.html", users=users, total=total, links=links, roles=ROLES, me=who.user_id, page=page
    )


def _back_to_users() -> Any:
    page = request.form.get("page", "1")
    return redirect(url_for("account.admin_users", page=page if page.isdigit() else "1"), code=303)


@bp.post("/admin/users/<int:user_id>/roles")
def admin_roles(user_id: int) -> Any:
    who = _me()
    policy.require_manage_users(who)
    roles = request.form.getlist("roles")
    if user_id == who.user_id and "admin" not in roles:
        raise Invalid(N_("you cannot take the admin role from yourself; ask another admin"), field="roles")
    services().users.set_roles(who, user_id, roles)
    return _back_to_users()


@bp.post("/admin/users/<int:user_id>/disable")
def admin_disable(user_id: int) -> Any:
    who = _me()
    policy.require_manage_users(who)
    disabled = request.form.get("disabled", "1") == "1"
    if user_id == who.user_id and disabled:
        raise Invalid(N_("you cannot disable your own account; ask another admin"), field="disabled")
    services().users.set_disabled(who, user_id, disabled)
    return _back_to_users()
