"""The review API in InvenioRDM's shape: submitting a draft to a curated collection, the requests that follow
(listed, read, accepted, declined, cancelled), and the collections themselves. The publish action of
portal.web.deposit goes through the review service too, so a draft for a curated collection is submitted, not
published, unless its curator publishes it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request, url_for

from portal.deposit.serialize import draft_json
from portal.errors import Invalid
from portal.i18n import N_
from portal.review.collections import CollectionInfo
from portal.review.requests import RequestInfo
from portal.web import services
from portal.web.auth import principal
from portal.web.request import QueryURL, int_arg, json_body, paginate

bp = Blueprint("review", __name__, url_prefix="/api")
COLLECTION_ARG_MAX = 64


def _base() -> str:
    return services().settings.base_url.rstrip("/")


def collection_arg() -> str | None:
    """`?collection=` (or a JSON body's `collection`) naming the collection a draft goes to."""
    value = request.args.get("collection")
    if value is None:
        body = json_body()
        value = body.get("collection") if isinstance(body, dict) else None
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > COLLECTION_ARG_MAX:
        raise Invalid(N_("`collection` is the slug of a collection"), field="collection")
    return value


def _comment() -> Any:
    body = json_body()
    if body is None:
        return None
    if not isinstance(body, dict):
        raise Invalid(N_("send a JSON object, optionally with a `comment`"), field="comment")
    return body.get("comment")


def collection_json(c: CollectionInfo) -> dict[str, Any]:
    return {
        "id": c.slug,
        "title": c.title,
        "description": c.description,
        "curated": c.curated,
        "curators": list(c.curators),
        "curator_group": c.curator_group,
    }


def request_json(r: RequestInfo) -> dict[str, Any]:
    api = f"{_base()}/api/requests/{r.id}"
    return {
        "id": str(r.id),
        "type": "community-submission",
        "title": r.title,
        "status": r.state,
        "is_open": r.state == "submitted",
        "created": r.created_at.isoformat(),
        "updated": r.updated_at.isoformat(),
        "topic": {"record": str(r.recid)},
        "receiver": {"collection": r.collection.slug},
        "created_by": {"user": str(r.owner_id) if r.owner_id is not None else None},
        "timeline": [
            {"at": e.at.isoformat(), "by": e.actor, "action": e.action, "comment": e.comment} for e in r.events
        ],
        "links": {
            "self": api,
            "draft": f"{_base()}/api/records/{r.recid}/draft",
            "accept": f"{api}/actions/accept",
            "decline": f"{api}/actions/decline",
            "cancel": f"{api}/actions/cancel",
        },
    }


@bp.post("/records/<int:recid>/draft/actions/submit-review")
def submit_review(recid: int) -> Any:
    found = services().review.submit(recid, actor=principal(), collection=collection_arg())
    return jsonify(request_json(found)), 202


@bp.get("/requests")
def requests() -> Any:
    page = int_arg("page", 1)
    size = int_arg("size", 20, maximum=100)
    state = request.args.get("state") or None
    collection = request.args.get("collection") or None
    items, total = services().review.find(actor=principal(), state=state, collection=collection, page=page, size=size)
    url = QueryURL.of_request()
    url.args.update(page=[str(page)], size=[str(size)])
    links = paginate(url, page=page, has_next=page * size < total)
    return jsonify({"hits": {"hits": [request_json(r) for r in items], "total": total}, "links": links})


@bp.get("/requests/<int:request_id>")
def one_request(request_id: int) -> Any:
    return jsonify(request_json(services().review.get(request_id, actor=principal())))


@bp.post("/requests/<int:request_id>/actions/accept")
def accept(request_id: int) -> Any:
    done = services().review.accept(request_id, actor=principal(), comment=_comment(), queue_large=True)
    assert done.request is not None
    if done.job is not None:  # a large deposit: accepted when its `deposit.publish` job publishes it
        from portal.web.jobs import queued_json

        found, queued = request_json(done.request), queued_json(done.job)
        response = jsonify({**found, "job": queued["job"], "links": {**found["links"], **queued["links"]}})
        response.status_code = 202
        response.headers["Location"] = url_for("jobs.api_job", job_id=done.job)
        return response
    assert done.record is not None
    return jsonify({**request_json(done.request), "record": draft_json(done.record, services().settings.base_url)})


@bp.post("/requests/<int:request_id>/actions/decline")
def decline(request_id: int) -> Any:
    return jsonify(request_json(services().review.decline(request_id, actor=principal(), comment=_comment())))


@bp.post("/requests/<int:request_id>/actions/cancel")
def cancel(request_id: int) -> Any:
    return jsonify(request_json(services().review.cancel(request_id, actor=principal(), comment=_comment())))


@bp.get("/collections")
def collections() -> Any:
    found = services().collections.all()
    return jsonify({"hits": {"hits": [collection_json(c) for c in found], "total": len(found)}})
