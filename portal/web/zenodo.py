"""Zenodo's legacy deposit API (the subset its clients use): depositions, bucket uploads, publish and new version.
Its clients authenticate with `?access_token=`, accepted on these routes only (portal.web.auth)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from portal.catalog.serialize import direct_files
from portal.deposit.service import DraftFile
from portal.deposit.zenodo import deposition_json, file_entry, to_record
from portal.errors import Invalid
from portal.i18n import N_
from portal.identity import policy
from portal.web import services
from portal.web.auth import principal
from portal.web.request import json_body

bp = Blueprint("zenodo", __name__, url_prefix="/api")


def _base() -> str:
    return services().settings.base_url


def _metadata() -> dict[str, Any]:
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
        raise Invalid(N_("body must be a JSON object with a `metadata` object"), field="metadata")
    return to_record(body["metadata"])


def _deposition(recid: int, *, latest_draft: int | None = None) -> dict[str, Any]:
    svc = services()
    view = svc.catalog.get(recid, include_drafts=True)
    if view.status == "draft":
        view = svc.deposit.draft(recid, actor=principal())  # a draft is its owner's (or a curator's) to see
        files = [file_entry(recid, f, _base()) for f in svc.deposit.files(recid, actor=principal())]
    else:
        svc.access.require_record(principal(), recid)
        files = [file_entry(recid, _published_file(f), _base()) for f in direct_files(svc.catalog, recid)]
    body = deposition_json(view, _base(), latest_draft=latest_draft)
    body["files"] = files
    return body


def _published_file(f: dict[str, Any]) -> DraftFile:
    return DraftFile(
        key=f["key"],
        status="completed",
        size=f.get("size"),
        received=f.get("size") or 0,
        adler32=f.get("checksum"),
        sha256=None,
        md5=None,
        created=None,
        updated=None,
        upload_id=None,
        carried=True,
    )


@bp.post("/deposit/depositions")
def create() -> Any:
    who = principal()
    policy.require_scope(who, "deposit:write")
    view = services().deposit.create(_metadata(), actor=who)
    return jsonify(_deposition(view.recid)), 201


@bp.get("/deposit/depositions/<int:recid>")
def get(recid: int) -> Any:
    return jsonify(_deposition(recid))


@bp.put("/deposit/depositions/<int:recid>")
def update(recid: int) -> Any:
    who = principal()
    policy.require_scope(who, "deposit:write")
    services().deposit.update(recid, _metadata(), actor=who)
    return jsonify(_deposition(recid))


@bp.delete("/deposit/depositions/<int:recid>")
def discard(recid: int) -> Any:
    services().deposit.discard(recid, actor=principal())
    return Response(status=204)


@bp.get("/deposit/depositions/<int:recid>/files")
def files(recid: int) -> Any:
    return jsonify(_deposition(recid)["files"])


@bp.put("/files/<int:bucket>/<key>")
def bucket_put(bucket: int, key: str) -> Any:
    who = principal()
    policy.require_scope(who, "deposit:write")
    found = services().deposit.put_file(bucket, key, request.stream, actor=who, length=request.content_length)
    entry = file_entry(bucket, found, _base())
    return jsonify(
        {
            "key": found.key,
            "size": found.size,
            "checksum": f"md5:{found.md5}",
            "mimetype": "application/octet-stream",
            "links": {"self": entry["links"]["self"]},
        }
    ), 201


@bp.post("/deposit/depositions/<int:recid>/actions/publish")
def publish(recid: int) -> Any:
    # through the review rules: Zenodo's clients have no review request to show, so a deposition for a curated
    # collection its publisher does not curate is refused, naming the way to submit it
    # a large deposition is published by a job: Zenodo's clients poll the deposition until its state is "done"
    services().review.publish(recid, actor=principal(), submit=False, queue_large=True)
    return jsonify(_deposition(recid)), 202


@bp.post("/deposit/depositions/<int:recid>/actions/newversion")
def new_version(recid: int) -> Any:
    draft = services().deposit.new_version(recid, actor=principal())
    return jsonify(_deposition(recid, latest_draft=draft.recid)), 201
