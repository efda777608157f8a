"""JSON API, compatible with the CERN Open Data portal's record endpoints and Zenodo's version endpoints."""

from __future__ import annotations

import hmac
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, redirect, request, stream_with_context, url_for

from portal.catalog.serialize import direct_files, record_envelope, stream_record_json
from portal.errors import Forbidden, Invalid
from portal.web import services

bp = Blueprint("api", __name__, url_prefix="/api")

_TRUE = {"1", "true", "yes", ""}


def int_arg(name: str, default: int, *, minimum: int = 1, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"{name} must be an integer, got {raw!r}", field=name) from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise Invalid(f"{name} must be {bounds}, got {value}", field=name)
    return value


def _require_curator() -> None:
    token = services().settings.curator_token
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token:
        raise Forbidden("write API is disabled: set PORTAL_CURATOR_TOKEN to enable it")
    if not hmac.compare_digest(given, token):
        raise Forbidden("a valid curator token is required (Authorization: Bearer <token>)")


@bp.get("/records/<int:recid>")
def record(recid: int) -> Any:
    catalog = services().catalog
    target, is_concept = catalog.resolve(recid)
    if is_concept:
        args: dict[str, Any] = request.args.to_dict()
        return redirect(url_for("api.record", recid=target, **args), code=302)
    from portal.web.exports import negotiated

    export = negotiated(target)
    if export is not None:
        return export
    view = catalog.get(target)
    mode = request.args.get("file_indices")
    if request.args.get("skip_files", "0").lower() in _TRUE:
        mode = "none"
    if mode is None:
        mode = "expand" if services().settings.api_expand_file_indices else "summary"
    if mode not in ("expand", "summary", "none"):
        raise Invalid(f"file_indices must be expand, summary or none, got {mode!r}", field="file_indices")
    base = services().settings.base_url
    body = stream_record_json(
        view,
        base,
        indices=mode,
        entries=lambda key: catalog.iter_index_entries(view.recid, key),
        files=lambda: direct_files(catalog, view.recid),
    )
    return Response(stream_with_context(body), mimetype="application/json")


@bp.get("/records/<int:recid>/versions")
def versions(recid: int) -> Any:
    base = services().settings.base_url
    items = services().catalog.versions(recid)
    hits = []
    for v in items:
        env = record_envelope(v, base)
        env["metadata"].pop("files", None)
        hits.append(env)
    return jsonify(
        {
            "hits": {"total": len(hits), "hits": hits},
            "links": {"self": f"{base.rstrip('/')}/api/records/{recid}/versions"},
        }
    )


@bp.get("/records/<int:recid>/versions/latest")
def latest(recid: int) -> Any:
    catalog = services().catalog
    concept = catalog.versions(recid)
    return redirect(url_for("api.record", recid=concept[0].recid), code=302)


@bp.post("/records/<int:recid>/versions")
def new_version(recid: int) -> Any:
    _require_curator()
    view = services().catalog.new_version(recid)
    return jsonify(record_envelope(view, services().settings.base_url)), 201


@bp.put("/records/<int:recid>/draft")
def update_draft(recid: int) -> Any:
    _require_curator()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
        raise Invalid("body must be a JSON object with a `metadata` object", field="metadata")
    view = services().catalog.update_draft(recid, body["metadata"], files=body.get("files"))
    return jsonify(record_envelope(view, services().settings.base_url))


@bp.post("/records/<int:recid>/draft/actions/publish")
def publish(recid: int) -> Any:
    _require_curator()
    view = services().catalog.publish(recid)
    return jsonify(record_envelope(view, services().settings.base_url)), 202


@bp.get("/records/<int:recid>/files")
def files(recid: int) -> Any:
    if "q" in request.args or "cursor" in request.args:
        # A glob filter or a cursor asks for the keyset listing (fast on any page of a million files).
        from portal.web.files import file_search  # imported here: that module imports helpers from this one

        return file_search(recid)
    cfg = services().settings
    size = int_arg("size", 20, maximum=cfg.api_max_page_size)
    page = int_arg("page", 1)
    index = request.args.get("index") or None
    result = services().catalog.list_files(recid, index_key=index, page=page, size=size)
    base = f"{cfg.base_url.rstrip('/')}/api/records/{recid}/files"
    extra = f"&index={index}" if index else ""
    links = {
        "self": f"{base}?page={page}&size={size}{extra}",
        "first": f"{base}?page=1&size={size}{extra}",
        "last": f"{base}?page={result.pages}&size={size}{extra}",
    }
    if page > 1:
        links["prev"] = f"{base}?page={page - 1}&size={size}{extra}"
    if page < result.pages:
        links["next"] = f"{base}?page={page + 1}&size={size}{extra}"
    return jsonify({"hits": {"total": result.total, "hits": result.items}, "page": page, "size": size, "links": links})


@bp.get("/records")
@bp.get("/records/")
def search() -> Any:
    """Search: `q` (query language), facet filters (`type=`, `experiment=`, …), `sort`, `size`, `page` or
    `cursor` (search-after: no result-window limit). Hits never carry file lists."""
    from portal.search.documents import FACETS
    from portal.search.service import SearchRequest

    cfg = services().settings
    size = int_arg("size", 10, maximum=cfg.api_max_page_size)
    page = int_arg("page", 1)
    filters = {f: request.args.getlist(f) for f in FACETS if request.args.getlist(f)}
    req = SearchRequest(
        q=request.args.get("q", ""),
        filters=filters,
        sort=request.args.get("sort") or None,
        size=size,
        page=page,
        cursor=request.args.get("cursor") or None,
        all_versions=request.args.get("all_versions", "").lower() in ("1", "true", "yes"),
    )
    result = services().search.search(req)
    catalog = services().catalog
    hits = []
    for recid in result.recids:
        env = record_envelope(catalog.get(recid), cfg.base_url)
        env["metadata"].pop("files", None)  # search hits never carry file lists
        hits.append(env)
    links = {"self": request.url}
    if result.next_cursor:
        args = request.args.to_dict(flat=False)
        args["cursor"] = [result.next_cursor]
        args.pop("page", None)
        links["next"] = f"{request.base_url}?{urlencode(args, doseq=True)}"
    if page > 1 and not req.cursor:
        args = request.args.to_dict(flat=False)
        args["page"] = [str(page - 1)]
        links["prev"] = f"{request.base_url}?{urlencode(args, doseq=True)}"
    aggregations = {name: {"buckets": [asdict(b) for b in buckets]} for name, buckets in result.aggregations.items()}
    return jsonify(
        {
            "hits": {"total": result.total, "hits": hits},
            "aggregations": aggregations,
            "sort": result.sort,
            "links": links,
        }
    )
