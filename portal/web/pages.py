"""HTML pages: home, search, record page, DOI resolution. Rendering only; data comes from the services."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from markupsafe import Markup

from portal.catalog.markdown import render_markdown
from portal.errors import Invalid, NotFound, Unavailable
from portal.web import services

bp = Blueprint("pages", __name__)

SECTIONS = (
    ("abstract", "Abstract"),
    ("methodology", "Methodology"),
    ("usage", "How to use these data"),
    ("validation", "Validation"),
    ("use_with", "Use with"),
)
FACET_LABELS = {
    "type": "Type",
    "subtype": "Subtype",
    "experiment": "Experiment",
    "year": "Year",
    "format": "File format",
    "collision_energy": "Collision energy",
    "collision_type": "Collision type",
    "category": "Category",
    "keywords": "Keywords",
    "events": "Number of events",
    "availability": "Availability",
}
LARGE_DOWNLOAD = 1_000_000_000
FILE_PAGE = 50  # rows of the record page's file box; the next ones are a link (or the file API) away


@bp.app_template_filter("markdown")
def _markdown(text: str | None) -> Any:
    return render_markdown(text or "")


@bp.app_template_filter("filesize")
def _filesize(size: int | None) -> str:
    if size is None:
        return "–"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if value < 1000 or unit == "PB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


@bp.app_template_filter("number")
def _number(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


@bp.get("/")
def home() -> Any:
    from portal.search.service import SearchRequest

    search = services().search
    featured = search.search(SearchRequest(filters={"type": ["Dataset"]}, size=6))
    lessons = search.search(SearchRequest(filters={"type": ["Lesson"]}, size=4))
    catalog = services().catalog
    return render_template(
        "home.html",
        featured=[catalog.get(r) for r in featured.recids],
        lessons=[catalog.get(r) for r in lessons.recids],
        total=catalog.count_published(),
        aggregations=featured.aggregations,
    )


@bp.get("/search")
def search() -> Any:
    from portal.search.documents import FACETS
    from portal.search.service import SearchRequest

    filters = {f: request.args.getlist(f) for f in FACETS if request.args.getlist(f)}
    q = request.args.get("q", "")
    page = request.args.get("page", "1")
    if not page.isdigit() or int(page) < 1:
        raise Invalid("page must be a positive number", field="page")
    size = 20
    try:
        result = services().search.search(
            SearchRequest(q=q, filters=filters, sort=request.args.get("sort") or None, size=size, page=int(page))
        )
        error = unavailable = None
    except Invalid as err:
        result, error, unavailable = None, err.detail, None
    except Unavailable as err:  # the form stays usable: searches without words may still work
        result, error, unavailable = None, None, err.detail
    catalog = services().catalog
    hits = [catalog.get(r) for r in result.recids] if result else []

    def toggle(facet: str, value: str) -> str:
        args = request.args.to_dict(flat=False)
        args.pop("page", None)
        values = list(args.get(facet, []))
        args[facet] = [v for v in values if v != value] if value in values else [*values, value]
        return url_for("pages.search") + "?" + urlencode(args, doseq=True)

    def page_url(n: int) -> str:
        args = request.args.to_dict(flat=False)
        args["page"] = [str(n)]
        return url_for("pages.search") + "?" + urlencode(args, doseq=True)

    status = 400 if error else 503 if unavailable else 200
    html = render_template(
        "search.html",
        q=q,
        result=result,
        hits=hits,
        error=error,
        unavailable=unavailable,
        filters=filters,
        labels=FACET_LABELS,
        toggle=toggle,
        page=int(page),
        size=size,
        page_url=page_url,
        sort=request.args.get("sort") or (result.sort if result else "mostrecent"),
    )
    return Response(html, status=status)


@bp.get("/record/<int:recid>")
def record(recid: int) -> Any:
    with services().db.shared_reads():  # one session for the page's many small reads (and the template's)
        return _record(recid)


def _record(recid: int) -> Any:
    svc = services()
    view = svc.catalog.get(recid)  # a concept id gives its latest version: the page then redirects there
    target = view.recid
    if target != recid:
        return redirect(url_for("pages.record", recid=target), code=302)
    versions = svc.catalog.versions(target)
    outgoing = []
    for rel in view.metadata.get("relations") or []:
        title, linked = rel.get("title"), rel.get("recid")
        if not linked and rel.get("doi"):  # a relation by DOI alone links when that DOI is in the catalogue
            try:
                linked = svc.catalog.find_by_doi(rel["doi"]).recid
            except NotFound:
                linked = None
        if linked:
            try:
                title = svc.catalog.get(int(linked)).metadata["title"]
            except Exception:  # a relation to a record not (yet) in this portal
                title = title or f"Record {linked}"
        outgoing.append({**rel, "recid": linked, "title": title})
    incoming = []
    for other in svc.search.related_to(view.recid) + (
        [] if view.concept_recid == view.recid else svc.search.related_to(view.concept_recid)
    ):
        other_view = svc.catalog.get(other)
        kinds = [
            r["type"]
            for r in other_view.metadata.get("relations") or []
            if str(r.get("recid")) in (str(view.recid), str(view.concept_recid))
        ]
        incoming.append({"recid": other, "title": other_view.metadata["title"], "types": kinds})
    export = g.export_record = svc.exports.record(target, view=view)  # also read by the Signposting headers
    render = svc.exports.render_record
    jsonld = json.dumps(json.loads(render(export, "json-ld")[0])).replace("</", "<\\/")
    citations = {name: render(export, name)[0] for name in ("apa", "harvard", "chicago", "bibtex")}
    base = svc.settings.base_url.rstrip("/")
    filebox = _file_box(target)
    launch_env = (
        svc.launches.environment_name(view.metadata)
        if svc.launches is not None and svc.settings.launch_enabled
        else None
    )
    return render_template(
        "record.html",
        r=view,
        md=view.metadata,
        versions=versions,
        sections=SECTIONS,
        outgoing=outgoing,
        incoming=incoming,
        jsonld=Markup(jsonld),
        citations=citations,
        export=export,
        large=LARGE_DOWNLOAD,
        base=base,
        launch_env=launch_env,
        filebox=filebox,
    )


def _file_box(recid: int) -> dict[str, Any]:
    """One page of the record's direct files, filtered by a glob (`files_q`), after a cursor (`files_after`):
    server-side, so the box works without JavaScript and stays fast whatever the number of files."""
    pattern = request.args.get("files_q", "").strip()
    after = request.args.get("files_after", "")
    if after and not after.isdigit():
        raise Invalid("files_after must be a file position, as given by a 'Next files' link", field="files_after")
    glob = pattern if not pattern or any(c in pattern for c in "*?") else f"*{pattern}*"  # a word: contains
    items, next_after = services().catalog.find_files(
        recid, pattern=glob or None, after=int(after or -1), size=FILE_PAGE
    )
    files = [f for f in items if f.get("type") not in ("index.json", "index.txt")]

    def link(**args: Any) -> str:
        return url_for("pages.record", recid=recid, **{k: v for k, v in args.items() if v}) + "#files-h"

    return {
        "files": files,
        "q": pattern,
        "paged": bool(after),
        "next": link(files_q=pattern, files_after=next_after) if next_after is not None else None,
        "first": link(files_q=pattern) if after else None,
    }


@bp.get("/doi/<path:doi>")
def doi(doi: str) -> Any:
    view = services().catalog.find_by_doi(doi)
    return redirect(url_for("pages.record", recid=view.recid), code=302)
