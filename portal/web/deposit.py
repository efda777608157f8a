"""The deposit API in InvenioRDM's shape: drafts, their files (declare, stream, commit, delete), publication,
new versions and discarding. `GET /api/records/<id>` stays the CERN Open Data record (portal.web.api)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from portal.deposit.serialize import draft_json, file_json, files_json
from portal.errors import Invalid
from portal.i18n import N_
from portal.identity import policy
from portal.web import services
from portal.web.auth import principal
from portal.web.request import json_body

bp = Blueprint("deposit", __name__, url_prefix="/api")


def _base() -> str:
    return services().settings.base_url


def _metadata_body() -> dict[str, Any]:
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
        raise Invalid(N_("body must be a JSON object with a `metadata` object"), field="metadata")
    return body["metadata"]


@bp.post("/records")
@bp.post("/records/")
def create() -> Any:
    who = principal()
    policy.require_scope(who, "deposit:write")  # before reading the body: anonymous writers learn to sign in first
    view = services().deposit.create(_metadata_body(), actor=who)
    return jsonify(draft_json(view, _base())), 201


@bp.get("/records/<int:recid>/draft")
def draft(recid: int) -> Any:
    return jsonify(draft_json(services().deposit.draft(recid, actor=principal()), _base()))


@bp.put("/records/<int:recid>/draft")
def update_draft(recid: int) -> Any:
    who = principal()
    policy.require_scope(who, "deposit:write")
    body = json_body()
    metadata = _metadata_body()
    files = body.get("files") if isinstance(body, dict) else None
    view = services().deposit.update(recid, metadata, files=files, actor=who)
    return jsonify(draft_json(view, _base()))


@bp.delete("/records/<int:recid>/draft")
def discard(recid: int) -> Any:
    services().deposit.discard(recid, actor=principal())
    return Response(status=204)


@bp.post("/records/<int:recid>/versions")
def new_version(recid: int) -> Any:
    view = services().deposit.new_version(recid, actor=principal())
    return jsonify(draft_json(view, _base())), 201


@bp.post("/records/<int:recid>/draft/actions/publish")
def publish(recid: int) -> Any:
    """Publish, or, for a draft going to a curated collection its publisher does not curate, submit it for
    review (202 with the request, as `submit-review` answers)."""
    from portal.web.review import collection_arg, request_json

    done = services().review.publish(recid, actor=principal(), collection=collection_arg(), queue_large=True)
    if done.job is not None:  # a large deposit: published when its job ends (`GET /api/jobs/<id>`)
        from portal.web.jobs import queued_json

        response = jsonify(queued_json(done.job))
        response.status_code = 202
        response.headers["Location"] = url_for("jobs.api_job", job_id=done.job)
        return response
    if done.request is not None:
        return jsonify(request_json(done.request)), 202
    assert done.record is not None
    return jsonify(draft_json(done.record, _base())), 202


@bp.post("/records/<int:recid>/draft/pids/doi")
def reserve_doi(recid: int) -> Any:
    """Reserve the DOI the draft will be published under (InvenioRDM's reserve action)."""
    return jsonify(draft_json(services().deposit.reserve_doi(recid, actor=principal()), _base())), 201


@bp.get("/records/<int:recid>/draft/files")
def files(recid: int) -> Any:
    return jsonify(files_json(recid, services().deposit.files(recid, actor=principal()), _base()))


@bp.post("/records/<int:recid>/draft/files")
def declare(recid: int) -> Any:
    who = principal()
    policy.require_scope(who, "deposit:write")
    found = services().deposit.declare(recid, json_body(), actor=who)
    return jsonify(files_json(recid, found, _base())), 201


@bp.get("/records/<int:recid>/draft/files/<key>")
def file(recid: int, key: str) -> Any:
    return jsonify(file_json(recid, services().deposit.file(recid, key, actor=principal()), _base()))


@bp.delete("/records/<int:recid>/draft/files/<key>")
def delete_file(recid: int, key: str) -> Any:
    services().deposit.delete(recid, key, actor=principal())
    return Response(status=204)


@bp.put("/records/<int:recid>/draft/files/<key>/content")
def content(recid: int, key: str) -> Any:
    who = principal()
    policy.require_scope(who, "deposit:write")
    # request.stream reads the body as it arrives (never buffered whole): memory stays bounded for any size
    found = services().deposit.write(recid, key, request.stream, actor=who, length=request.content_length)
    return jsonify(file_json(recid, found, _base()))


@bp.post("/records/<int:recid>/draft/files/<key>/commit")
def commit(recid: int, key: str) -> Any:
    return jsonify(file_json(recid, services().deposit.commit(recid, key, actor=principal()), _base()))
