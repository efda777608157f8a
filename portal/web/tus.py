"""Resumable uploads by the tus 1.0 protocol (core, creation, checksum, termination) at /api/uploads/, each bound to
a file key of a draft: `Upload-Metadata` names the draft (`record`) and the key (`filename`). A finished upload is a
committed file of the draft; it is published with the draft (portal.web.deposit)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Blueprint, Response, request

from portal.errors import ChecksumMismatch, Invalid, PortalError
from portal.i18n import N_
from portal.identity import policy
from portal.web import services
from portal.web.auth import principal
from portal.web.i18n import translate_message
from portal.web.problems import problem_response

bp = Blueprint("tus", __name__, url_prefix="/api/uploads")

VERSION = "1.0.0"
EXTENSIONS = "creation,checksum,termination"
ALGORITHMS = {"sha1": "sha1", "md5": "md5", "sha256": "sha256"}


def _headers(response: Response) -> Response:
    response.headers["Tus-Resumable"] = VERSION
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.after_request
def _tus_headers(response: Response) -> Response:
    return _headers(response)


@bp.errorhandler(ChecksumMismatch)
def _checksum(err: ChecksumMismatch) -> Response:
    # tus's checksum extension answers a mismatch with its own status
    problem = {**err.to_problem(translate_message), "status": 460}
    return _headers(problem_response(problem, 460))


@bp.errorhandler(PortalError)
def _problem(err: PortalError) -> Response:
    # in the reader's language, as every other problem: the upload page shows its detail next to the file
    return _headers(problem_response(err.to_problem(translate_message), err.status))


def _require_version() -> None:
    if request.headers.get("Tus-Resumable") != VERSION:
        raise PreconditionFailed()


class PreconditionFailed(PortalError):
    status = 412
    title = N_("Precondition failed")

    def __init__(self) -> None:
        super().__init__(N_("send Tus-Resumable: {version}"), version=VERSION, field="Tus-Resumable")


def _int_header(name: str) -> int:
    raw = request.headers.get(name, "")
    if not raw.isdigit() or len(raw) > 18:
        raise Invalid(N_("{name} must be a non-negative integer"), name=name, field=name)
    return int(raw)


def _metadata() -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in request.headers.get("Upload-Metadata", "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        name, _, value = pair.partition(" ")
        try:
            out[name] = base64.b64decode(value, validate=True).decode("utf-8") if value else ""
        except (binascii.Error, UnicodeDecodeError):
            raise Invalid(
                N_("Upload-Metadata value of {name!r} is not base64 UTF-8"), name=name, field="Upload-Metadata"
            ) from None
    return out


@bp.route("", methods=["OPTIONS"])
@bp.route("/", methods=["OPTIONS"])
def options() -> Any:
    response = Response(status=204)
    response.headers["Tus-Version"] = VERSION
    response.headers["Tus-Extension"] = EXTENSIONS
    response.headers["Tus-Checksum-Algorithm"] = ",".join(ALGORITHMS)
    return response


@bp.post("")
@bp.post("/")
def create() -> Any:
    _require_version()
    who = principal()
    policy.require_scope(who, "deposit:write")
    if "Upload-Defer-Length" in request.headers:
        raise Invalid(N_("give Upload-Length: deferred lengths are not supported"), field="Upload-Defer-Length")
    length = _int_header("Upload-Length")
    meta = _metadata()
    record = meta.get("record", "")
    if not record.isdigit():
        raise Invalid(N_("Upload-Metadata must name the draft: `record <base64 recid>`"), field="record")
    key = meta.get("filename") or meta.get("key") or ""
    found = services().deposit.start(int(record), key, length, actor=who)
    response = Response(status=201)
    # the URL the client reached us at (behind the proxy, ProxyFix makes it the public one)
    response.headers["Location"] = f"{request.host_url.rstrip('/')}/api/uploads/{found.upload_id}"
    response.headers["Upload-Offset"] = "0"
    return response


@bp.route("/<upload_id>", methods=["HEAD"])
def head(upload_id: str) -> Any:
    _require_version()
    found = services().deposit.upload(upload_id, actor=principal())
    response = Response(status=200)
    response.headers["Upload-Offset"] = str(found.received)
    response.headers["Upload-Length"] = str(found.size or 0)
    return response


@bp.patch("/<upload_id>")
def patch(upload_id: str) -> Any:
    _require_version()
    who = principal()
    policy.require_scope(who, "deposit:write")
    if request.mimetype != "application/offset+octet-stream":
        raise UnsupportedMedia()
    offset = _int_header("Upload-Offset")
    digest = None
    if "Upload-Checksum" in request.headers:
        name, _, value = request.headers["Upload-Checksum"].strip().partition(" ")
        if name not in ALGORITHMS:
            raise BadChecksumAlgorithm(name)
        try:
            digest = (ALGORITHMS[name], base64.b64decode(value, validate=True))
        except binascii.Error:
            raise Invalid(
                N_("Upload-Checksum must be `<algorithm> <base64 digest>`"), field="Upload-Checksum"
            ) from None
    found = services().deposit.resume(
        upload_id, offset, request.stream, actor=who, length=request.content_length, chunk_digest=digest
    )
    response = Response(status=204)
    response.headers["Upload-Offset"] = str(found.received)
    return response


@bp.delete("/<upload_id>")
def terminate(upload_id: str) -> Any:
    _require_version()
    services().deposit.terminate(upload_id, actor=principal())
    return Response(status=204)


class UnsupportedMedia(PortalError):
    status = 415
    title = N_("Unsupported media type")

    def __init__(self) -> None:
        super().__init__(N_("PATCH bodies are Content-Type: application/offset+octet-stream"), field="Content-Type")


class BadChecksumAlgorithm(PortalError):
    status = 400
    title = N_("Bad request")

    def __init__(self, name: str) -> None:
        super().__init__(
            N_("unsupported checksum algorithm {name!r}; use one of {algorithms}"),
            name=name,
            algorithms=", ".join(ALGORITHMS),
            field="Upload-Checksum",
        )
