"""JSON API, compatible with the CERN Open Data portal's record endpoints and Zenodo's version endpoints."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, request, stream_with_context, url_for

from portal.catalog.serialize import direct_files, record_envelope, stream_record_json
from portal.errors import Invalid
from portal.i18n import N_
from portal.search.documents import FACETS
from portal.search.results import SearchRequest
from portal.web import services
from portal.web.auth import principal
from portal.web.exports import negotiated
from portal.web.files import file_search
from portal.web.limits import limit_search
from portal.web.request import QueryURL, flag_arg, int_arg, paginate

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/records/<int:recid>")
def record(recid: int) -> Any:
    catalog = services().catalog
    services().access.require_record(principal(), recid)  # a restricted record is hidden: 404
    # arguments are checked before a concept id redirects: a bad one is named here, not after a round trip
    mode = "none" if flag_arg("skip_files", bare=True) else request.args.get("file_indices")
    if mode is None:
        mode = "expand" if services().settings.api_expand_file_indices else "summary"
    if mode not in ("expand", "summary", "none"):
        raise Invalid(N_("file_indices must be expand, summary or none, got {mode!r}"), mode=mode, field="file_indices")
    target, is_concept = catalog.resolve(recid)
    if is_concept:
        args: dict[str, Any] = request.args.to_dict()
        return redirect(url_for("api.record", recid=target, **args), code=302)
    export = negotiated(target)
    if export is not None:
        return export
    view = catalog.get(target)
    base = services().settings.base_url
    body = stream_record_json(
        view,
        base,
        indices=mode,
        entries=lambda key: catalog.iter_index_entries(view.recid, key),
        files=lambda: direct_files(catalog, view.recid),
    )
    return Response(stream_with_context(body), mimetype="application/json")


def _light(envelope: dict[str, Any]) -> dict[str, Any]:
    envelope["metadata"].pop("files", None)  # listings of records never carry file lists
    return envelope


@bp.get("/records/<int:recid>/versions")
def versions(recid: int) -> Any:
    base = services().settings.base_url
    readable = services().access.may_read_record
    who = principal()
    hits = [_light(record_envelope(v, base)) for v in services().catalog.versions(recid) if readable(who, v.metadata)]
    return jsonify(
        {
            "hits": {"total": len(hits), "hits": hits},
            "links": {"self": f"{base.rstrip('/')}/api/records/{recid}/versions"},
        }
    )


@bp.get("/records/<int:recid>/versions/latest")
def latest(recid: int) -> Any:
    return redirect(url_for("api.record", recid=services().catalog.versions(recid)[0].recid), code=302)


@bp.get("/records/<int:recid>/files")
def files(recid: int) -> Any:
    if "q" in request.args or "cursor" in request.args:
        return file_search(recid)  # a glob filter or a cursor asks for the keyset listing (fast on any page)
    cfg = services().settings
    size = int_arg("size", 20, maximum=cfg.api_max_page_size)
    page = int_arg("page", 1)
    index = request.args.get("index") or None
    services().access.require_record(principal(), recid)
    result = services().catalog.list_files(recid, index_key=index, page=page, size=size)
    args: dict[str, list[object]] = {"page": [page], "size": [size]}
    if index:
        args["index"] = [index]
    links = paginate(
        QueryURL(f"{cfg.base_url.rstrip('/')}/api/records/{recid}/files", args), page=page, last=result.pages
    )
    return jsonify({"hits": {"total": result.total, "hits": result.items}, "page": page, "size": size, "links": links})


@bp.get("/records")
@bp.get("/records/")
@limit_search
def search() -> Any:
    """Search: `q` (query language), facet filters (`type=`, `experiment=`, …), `sort`, `size`, `page` or
    `cursor` (search-after: no result-window limit). Hits never carry file lists."""
    cfg = services().settings
    # One session for the request's reads (who may see what, the index generation, the hits, their citation
    # counts): one pool checkout instead of five, each with its liveness ping, BEGIN and ROLLBACK.
    with services().db.shared_reads():
        req = SearchRequest(
            q=request.args.get("q", ""),
            filters={f: request.args.getlist(f) for f in FACETS if request.args.getlist(f)},
            sort=request.args.get("sort") or None,
            size=int_arg("size", 10, maximum=cfg.api_max_page_size),
            page=int_arg("page", 1),
            cursor=request.args.get("cursor") or None,
            all_versions=flag_arg("all_versions"),
            hidden=services().access.hidden_recids(principal()),
        )
        found = services().browse.search(req)
    links = paginate(
        QueryURL.of_request(),
        self_url=request.url,
        page=None if req.cursor else req.page,
        cursor=("cursor", found.result.next_cursor),
    )
    return jsonify(
        {
            "hits": {
                "total": found.result.total,
                "hits": [
                    {**_light(record_envelope(v, cfg.base_url)), "citations": found.cited.get(v.concept_recid, 0)}
                    for v in found.hits
                ],
            },
            "aggregations": {
                name: {"buckets": [asdict(b) for b in buckets]} for name, buckets in found.result.aggregations.items()
            },
            "sort": found.result.sort,
            "links": links,
        }
    )
