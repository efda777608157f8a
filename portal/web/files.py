"""File access over HTTP: downloads with Range/ETag/resume, file-index documents, zip packs, file lists."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, send_file, stream_with_context
from werkzeug.wsgi import wrap_file

from portal.errors import Invalid
from portal.files.preview import render_histogram
from portal.i18n import N_
from portal.ops import metrics
from portal.web import services
from portal.web.auth import principal
from portal.web.request import MAX_POSITION, QueryURL, client_ip, int_arg, paginate, range_arg, required_arg

bp = Blueprint("files", __name__)


def _readable(recid: int) -> int:
    """The version ``recid`` names, once the policy lets this request read its bytes (404/401/403 otherwise)."""
    return services().access.require_files(principal(), recid)


def _count_download(response: Response, recid: int, key: str) -> Response:
    # Counted as the transfer starts, as a queued event: the download never waits for statistics.
    # (Pass-through file responses never call close callbacks, so "when it ends" is not observable here.)
    if request.method == "GET" and response.status_code in (200, 206):
        metrics.DOWNLOADS.inc()
        metrics.DOWNLOAD_BYTES.inc(response.content_length or 0)
        services().stats.record(
            "download",
            recid,
            ip=client_ip(),
            user_agent=request.user_agent.string,
            file_key=key,
            nbytes=response.content_length or 0,
        )
    return response


@bp.route("/record/<int:recid>/files/<path:key>", methods=["GET", "HEAD"])
def download(recid: int, key: str) -> Response:
    """The file's bytes: single ranges (206/416), ETag/If-None-Match, If-Range, HEAD, constant memory."""
    access = services().files
    target = _readable(recid)
    located = access.locate(target, key)
    prefix = services().settings.accel_redirect_prefix
    if prefix and located.local_path and not located.restricted:
        # Production behind nginx: nginx serves the bytes (ranges, sendfile); the portal only authorises.
        response = Response(status=200)
        response.headers["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + located.path
        response.headers["Content-Disposition"] = f'attachment; filename="{located.filename}"'
        response.set_etag(located.etag)
        return _count_download(response, target, key)
    if located.local_path:
        response = send_file(
            located.local_path,
            as_attachment=True,
            download_name=located.filename,
            conditional=True,
            etag=located.etag,
            max_age=3600,
        )
    else:
        fh = access.open(located)
        response = Response(
            wrap_file(request.environ, fh), mimetype="application/octet-stream", direct_passthrough=True
        )
        response.content_length = located.size
        response.headers["Content-Disposition"] = f'attachment; filename="{located.filename}"'
        response.set_etag(located.etag)
        response.cache_control.public = True
        response.cache_control.max_age = 3600
        response.make_conditional(request, accept_ranges=True, complete_length=located.size)
    response.headers["Digest"] = f"adler32={located.checksum.split(':', 1)[1]}" if located.checksum else ""
    if not response.headers["Digest"]:
        del response.headers["Digest"]
    return _count_download(response, target, key)


@bp.get("/record/<int:recid>/file_index/<key>.json")
def file_index_json(recid: int, key: str) -> Response:
    body = services().files.index_json(_readable(recid), key)
    first = next(body)  # fail with a proper 404 before streaming starts
    return Response(stream_with_context(_chain(first, body)), mimetype="application/json")


@bp.get("/record/<int:recid>/file_index/<key>.txt")
def file_index_txt(recid: int, key: str) -> Response:
    body = services().files.index_txt(_readable(recid), key)
    first = next(body, "")
    return Response(stream_with_context(_chain(first, body)), mimetype="text/plain")


def _selection() -> dict[str, Any]:
    keys = [k for k in request.args.get("files", "").split(",") if k]
    index, pattern = request.args.get("index") or None, request.args.get("glob") or None
    if not (index or pattern or keys):
        pattern = "*"  # no selection: every direct file of the record
    return {"index": index, "pattern": pattern, "keys": keys or None}


def _requested_pack(recid: int) -> Any:
    """The pack the request's selection arguments (index=, glob= or files=) describe."""
    access = services().files
    target = _readable(recid)
    return access.pack(target, access.select(target, **_selection()), name=f"record-{target}-pack.zip")


@bp.get("/record/<int:recid>/pack.zip")
def pack(recid: int) -> Response:
    """A selection as one zip, streamed, with a MANIFEST of sizes and checksums; Content-Length up front."""
    result = _requested_pack(recid)
    response = Response(stream_with_context(iter(result.stream)), mimetype="application/zip")
    response.content_length = result.size
    response.headers["Content-Disposition"] = f'attachment; filename="{result.name}"'
    return response


@bp.get("/api/records/<int:recid>/pack")
def pack_info(recid: int) -> Any:
    """What `pack.zip` with the same arguments would hold, and its exact size, before downloading."""
    result = _requested_pack(recid)
    return jsonify(
        {
            "files": len(result.files),
            "size": result.size,
            "content_size": sum(f.size for f in result.files),
            "download": request.url.replace("/api/records/", "/record/").replace("/pack?", "/pack.zip?"),
        }
    )


@bp.get("/api/records/<int:recid>/files/search")
def file_search(recid: int) -> Any:
    """Cursor-paginated file list with a glob filter: `?q=*.root&index=KEY&cursor=N&size=M`."""
    cfg = services().settings
    size = int_arg("size", 100, maximum=cfg.api_max_page_size)
    cursor = request.args.get("cursor", "-1")
    try:
        after = int(cursor)
        if not -1 <= after <= MAX_POSITION:
            raise ValueError(cursor)
    except ValueError:
        raise Invalid(
            N_("cursor must be the number returned as next_cursor, got {cursor!r}"), cursor=cursor, field="cursor"
        ) from None
    items, next_cursor = services().catalog.find_files(
        services().access.require_record(principal(), recid),
        index_key=request.args.get("index") or None,
        pattern=request.args.get("q") or None,
        after=after,
        size=size,
    )
    links = paginate(QueryURL.of_request(), self_url=request.url, cursor=("cursor", next_cursor))
    return jsonify({"hits": {"hits": items}, "next_cursor": next_cursor, "links": links})


def _chain(first: str, rest: Any) -> Any:
    yield first
    yield from rest


@bp.get("/api/records/<int:recid>/preview")
def preview_api(recid: int) -> Any:
    """Structure and first rows of a file: `?key=FILE&rows=10`."""
    preview = services().previewer.preview(_readable(recid), required_arg("key"), rows=int_arg("rows", 10, maximum=100))
    return jsonify(preview.to_json())


@bp.get("/api/records/<int:recid>/histogram")
def histogram_api(recid: int) -> Any:
    """Histogram of one numeric column from a bounded sample: `?key=&column=&bins=&range=lo,hi&format=json|png|svg`."""
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "png", "svg"):
        raise Invalid(N_("format must be json, png or svg, got {fmt!r}"), fmt=fmt, field="format")
    h = services().previewer.histogram(
        _readable(recid),
        required_arg("key"),
        required_arg("column"),
        bins=int_arg("bins", 50, maximum=1000),
        value_range=range_arg("range"),
    )
    if fmt == "json":
        return jsonify(h.__dict__)
    mimetype = "image/png" if fmt == "png" else "image/svg+xml"
    return Response(render_histogram(h, fmt), mimetype=mimetype)


@bp.get("/record/<int:recid>/preview")
def preview_page(recid: int) -> Any:
    key = required_arg("key")
    page = services().browse.preview_page(_readable(recid), key)
    column = request.args.get("column") or (page.numeric[0] if page.numeric else None)
    return render_template(
        "preview.html", r=page.view, md=page.view.metadata, key=key, data=page.data, numeric=page.numeric, column=column
    )
