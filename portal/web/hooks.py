"""Software from git releases: the providers' webhook (`POST /api/hooks/<provider>`), the JSON API of connected
repositories, and their pages (`/settings/repositories`). Everything is done by :mod:`portal.releases`.

A webhook answers 202 when the delivery was verified and its processing queued for a worker (its outcome then
shows in the repository's delivery list), 201 when it was processed in the request (no job queue) and the release
became a version, 200 for a delivery id seen before, and otherwise a problem naming the reason (401 bad signature,
404 unknown repository, 400 other refusals, 503 a failure that a retry may fix), so the provider's own delivery
log shows what it can. Every delivery is recorded either way; those that matched no connected repository are
listed for admins at `/admin/deliveries` (bounded, without their bodies), since providers rarely show a 404 to anyone.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, redirect, render_template, request, url_for

from portal.errors import Invalid, NotFound, PortalError, Unauthorized, Unavailable
from portal.i18n import N_
from portal.identity import policy
from portal.releases.results import DeliveryView
from portal.web import services
from portal.web.auth import principal
from portal.web.csrf import exempt
from portal.web.i18n import translate_message
from portal.web.people import _me, _Redirect, _redirect
from portal.web.request import QueryURL, int_arg, json_body, paginate

bp = Blueprint("hooks", __name__)
bp.register_error_handler(_Redirect, _redirect)  # pages of one's own send anonymous visitors to sign in
PAGE_SIZE = 20
ADMIN_PAGE_SIZE = 50


# -- the providers' webhook -------------------------------------------------------------------------------------
@bp.post("/api/hooks/<provider>")
@exempt  # the caller is a git host, authenticated by the delivery's signature
def webhook(provider: str) -> Any:
    headers = {k.lower(): v for k, v in request.headers.items()}
    delivery = services().releases.receive(provider, headers, request.get_data(cache=False))
    if delivery.replayed:
        return jsonify(delivery.to_json(translate_message)), 200
    if delivery.outcome == "created":
        return jsonify(delivery.to_json(translate_message)), 201
    if delivery.outcome == "pending":  # verified, and queued for a worker
        return jsonify(delivery.to_json(translate_message)), 202
    raise _problem(delivery)


def _problem(d: DeliveryView) -> PortalError:
    # the sentence is translated at the problem+json boundary, and the reason in it here (kept as a message id; old
    # deliveries keep their English text)
    reason = d.localized_reason(translate_message)
    if d.outcome == "failed":
        failed = N_("delivery {id} failed: {reason} (retry it from the repository's page)")
        return Unavailable(failed, id=d.id, reason=reason, field=d.field)
    refused = N_("delivery {id} refused: {reason}")
    if d.field == "repository":
        return NotFound(refused, id=d.id, reason=reason, field=d.field)
    if d.reason.startswith("bad signature"):
        return Unauthorized(refused, id=d.id, reason=reason, field=d.field)
    return Invalid(refused, id=d.id, reason=reason, field=d.field)


# -- the JSON API -----------------------------------------------------------------------------------------------
def _body() -> dict[str, Any]:
    body = json_body()
    if not isinstance(body, dict):
        raise Invalid(N_("body must be a JSON object"), field="body")
    return body


def _recid(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not str(value).isdigit() or not 0 < int(value) < 2**31:
        raise Invalid(N_("recid must be a record id (a positive integer)"), field="recid")
    return int(value)


@bp.get("/api/repositories")
def api_repositories() -> Any:
    repos = services().releases.repositories(principal())
    return jsonify({"repositories": [r.to_json() for r in repos]})


@bp.post("/api/repositories")
def api_connect() -> Any:
    who = principal()
    # before reading the body: anonymous callers learn to sign in first
    policy.require_connect_repository(who, owners_publish=services().settings.deposit_owners_publish)
    body = _body()
    for name in ("provider", "url"):
        if not isinstance(body.get(name), str):
            raise Invalid(N_("{name} must be a string"), name=name, field=name)
    connected = services().releases.connect(who, body["provider"], body["url"], recid=_recid(body.get("recid")))
    return jsonify(connected.to_json()), 201


@bp.get("/api/repositories/<int:repository_id>")
def api_repository(repository_id: int) -> Any:
    return jsonify(services().releases.repository(principal(), repository_id).to_json())


@bp.delete("/api/repositories/<int:repository_id>")
def api_disconnect(repository_id: int) -> Any:
    services().releases.disconnect(principal(), repository_id)
    return "", 204


@bp.post("/api/repositories/<int:repository_id>/secret")
def api_rotate_secret(repository_id: int) -> Any:
    return jsonify(services().releases.rotate_secret(principal(), repository_id).to_json())


@bp.get("/api/repositories/<int:repository_id>/deliveries")
def api_deliveries(repository_id: int) -> Any:
    page, size = int_arg("page", 1), int_arg("size", PAGE_SIZE, maximum=services().settings.api_max_page_size)
    found = services().releases.deliveries(principal(), repository_id, page=page, size=size)
    links = paginate(QueryURL.of_request(), page=page, has_next=page * size < found.total)
    return jsonify({**found.to_json(translate_message), "links": links})


@bp.post("/api/repositories/<int:repository_id>/deliveries/<int:delivery_id>/retry")
def api_retry(repository_id: int, delivery_id: int) -> Any:
    delivery = services().releases.retry(principal(), delivery_id)
    if delivery.repository_id != repository_id:
        raise NotFound(N_("there is no such delivery"), field="delivery")
    return jsonify(delivery.to_json(translate_message)), 202 if delivery.outcome == "pending" else 200


# -- pages ------------------------------------------------------------------------------------------------------
def _repositories_page(*, connected: Any = None, error: PortalError | None = None, status: int = 200) -> Any:
    who = _me()
    html = render_template(
        "account/repositories.html",
        repositories=services().releases.repositories(who),
        connected=connected,
        error=error,
        form=request.form if error else {},
        base_url=services().settings.base_url.rstrip("/"),
    )
    return html, status


@bp.get("/settings/repositories")
def repositories() -> Any:
    return _repositories_page()


@bp.post("/settings/repositories")
def connect() -> Any:
    """Connect a repository; its webhook secret is on the answer page only (never stored, never shown again)."""
    who = _me()
    try:
        connected = services().releases.connect(
            who,
            request.form.get("provider", ""),
            request.form.get("url", ""),
            recid=_recid(request.form.get("recid", "").strip()),
        )
    except Invalid as err:
        return _repositories_page(error=err, status=err.status)
    return _repositories_page(connected=connected, status=201)


@bp.get("/settings/repositories/<int:repository_id>")
def repository(repository_id: int) -> Any:
    who = _me()
    releases = services().releases
    repo = releases.repository(who, repository_id)
    page = int_arg("page", 1)
    found = releases.deliveries(who, repository_id, page=page, size=PAGE_SIZE)
    base = url_for("hooks.repository", repository_id=repository_id)
    links = paginate(QueryURL(base, {}), page=page, has_next=page * PAGE_SIZE < found.total)
    return render_template(
        "account/repository.html",
        repo=repo,
        deliveries=found,
        links=links,
        hook_url=services().settings.base_url.rstrip("/") + repo.hook_path,
    )


@bp.post("/settings/repositories/<int:repository_id>/deliveries/<int:delivery_id>/retry")
def retry(repository_id: int, delivery_id: int) -> Any:
    services().releases.retry(_me(), delivery_id)
    return redirect(url_for("hooks.repository", repository_id=repository_id), code=303)


@bp.post("/settings/repositories/<int:repository_id>/secret")
def rotate_secret(repository_id: int) -> Any:
    """A new secret, on the answer page only."""
    connected = services().releases.rotate_secret(_me(), repository_id)
    return _repositories_page(connected=connected)


@bp.post("/settings/repositories/<int:repository_id>/disconnect")
def disconnect(repository_id: int) -> Any:
    services().releases.disconnect(_me(), repository_id)
    return redirect(url_for("hooks.repositories"), code=303)


# -- admins: deliveries that matched no repository --------------------------------------------------------------
@bp.get("/admin/deliveries")
def admin_deliveries() -> Any:
    """Deliveries refused because they named no connected repository, so a misconfigured webhook is not silent."""
    page = int_arg("page", 1)
    found = services().releases.unmatched(principal(), page=page, size=ADMIN_PAGE_SIZE)
    more = page * found.size < found.total
    links = paginate(QueryURL(url_for("hooks.admin_deliveries"), {}), page=page, has_next=more)
    return render_template(
        "account/admin_deliveries.html",
        deliveries=found.deliveries,
        total=found.total,
        links=links,
        kept=services().settings.releases_unmatched_kept,
        days=services().settings.releases_unmatched_days,
    )
