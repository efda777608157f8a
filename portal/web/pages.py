"""HTML pages: home, search, record page, DOI resolution. Rendering only; data comes from the services."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from markupsafe import Markup

from portal.browse.service import FileSelection, Moved
from portal.catalog.markdown import render_markdown
from portal.errors import Invalid, Unavailable
from portal.i18n import N_
from portal.identity import policy
from portal.pids.registrations import Registration
from portal.search.documents import FACETS
from portal.search.results import SearchRequest
from portal.web import services
from portal.web.auth import principal
from portal.web.i18n import translate_message
from portal.web.request import MAX_ID, MAX_POSITION, QueryURL, paginate

bp = Blueprint("pages", __name__)

# Labels are msgids: templates show them through gettext.
SECTIONS = (
    ("abstract", N_("Abstract")),
    ("methodology", N_("Methodology")),
    ("usage", N_("How to use these data")),
    ("validation", N_("Validation")),
    ("use_with", N_("Use with")),
)
FACET_LABELS = {
    "type": N_("Type"),
    "subtype": N_("Subtype"),
    "experiment": N_("Experiment"),
    "year": N_("Year"),
    "format": N_("File format"),
    "collision_energy": N_("Collision energy"),
    "collision_type": N_("Collision type"),
    "category": N_("Category"),
    "keywords": N_("Keywords"),
    "events": N_("Number of events"),
    "availability": N_("Availability"),
    "collection": N_("Collection"),
}
LARGE_DOWNLOAD = 1_000_000_000
FILE_PAGE = 50  # rows of the record page's file box; the next ones are a link (or the file API) away


def script_json(text: str) -> Markup:
    """JSON text made safe inside a <script> element: `<`, `>` and `&` as \\u escapes (JSON still reads them
    back as the same characters). Escaping only `</` is not enough: a `<!--` followed by `<script` in a value
    puts the HTML parser in its "double escaped" state, where the block's own `</script>` no longer closes it
    and the rest of the page is swallowed into the script."""
    escaped = json.dumps(json.loads(text)).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(escaped)


@bp.app_template_filter("markdown")
def _markdown(text: str | None) -> Any:
    return render_markdown(text or "")


@bp.get("/")
def home() -> Any:
    page = services().browse.home(hidden=services().access.hidden_recids(principal()))
    return render_template(
        "home.html", featured=page.featured, lessons=page.lessons, total=page.total, aggregations=page.aggregations
    )


@bp.get("/search")
def search() -> Any:
    filters = {f: request.args.getlist(f) for f in FACETS if request.args.getlist(f)}
    q = request.args.get("q", "")
    page = request.args.get("page", "1")
    if not page.isdigit() or not 1 <= int(page) <= MAX_ID:
        raise Invalid(N_("page must be a positive number"), field="page")
    size = 20
    sort = request.args.get("sort") or None
    try:
        found = services().browse.search(
            SearchRequest(
                q=q,
                filters=filters,
                sort=sort,
                size=size,
                page=int(page),
                hidden=services().access.hidden_recids(principal()),
            )
        )
        result, hits, error, unavailable = found.result, found.hits, None, None
        cited = found.cited
    except Invalid as err:
        result, hits, error, unavailable, cited = None, [], err.localized_detail(translate_message), None, {}
    except Unavailable as err:  # the form stays usable: searches without words may still work
        result, hits, error, unavailable, cited = None, [], None, err.localized_detail(translate_message), {}
    url = QueryURL(url_for("pages.search"), request.args)

    def toggle(facet: str, value: str) -> str:
        values = url.args.get(facet, [])
        return url(page=None, **{facet: [v for v in values if v != value] if value in values else [*values, value]})

    html = render_template(
        "search.html",
        q=q,
        result=result,
        hits=hits,
        cited=cited,
        error=error,
        unavailable=unavailable,
        filters=filters,
        labels=FACET_LABELS,
        toggle=toggle,
        page=int(page),
        size=size,
        page_url=lambda n: url(page=n),
        sort=sort or (result.sort if result else "mostrecent"),
    )
    return Response(html, status=400 if error else 503 if unavailable else 200)


@bp.get("/record/<int:recid>")
def record(recid: int) -> Any:
    return record_page(recid)


def record_page(recid: int, status: int = 200, **extra: Any) -> Any:
    """The record page; ``extra`` reaches the template, so a form posted from the page (the "Cited by" box) can
    render it again with its error next to its field and the typed values kept, instead of a bare problem page."""
    pattern = request.args.get("files_q", "").strip()
    after = request.args.get("files_after", "")
    services().access.require_record(principal(), recid)  # a restricted record is hidden: 404
    with services().db.shared_reads():  # one session for the page's many small reads (and the template's)
        page = services().browse.record_page(
            recid,
            files=pattern,
            files_after=int(after) if after.isdigit() and int(after) <= MAX_POSITION else -1,
            files_size=FILE_PAGE,
        )
        if isinstance(page, Moved):  # a concept id: its latest version
            return redirect(url_for("pages.record", recid=page.recid), code=302)
        if after and not (after.isdigit() and int(after) <= MAX_POSITION):
            raise Invalid(
                N_("files_after must be a file position, as given by a 'Next files' link"), field="files_after"
            )
        g.export_record = page.export  # also read by the Signposting headers
        evidence = _evidence(page.view.recid, page.view.metadata, page.outgoing)
        open_envs, open_env = _open_envs(page.view.metadata)
        return render_template(
            "record.html",
            r=page.view,
            md=page.view.metadata,
            versions=page.versions,
            sections=SECTIONS,
            outgoing=page.outgoing,
            incoming=page.incoming,
            jsonld=script_json(page.jsonld),
            citations=page.citations,
            export=page.export,
            large=LARGE_DOWNLOAD,
            base=services().settings.base_url.rstrip("/"),
            launch_env=page.launch_env,
            filebox=_file_box(recid, pattern, paged=bool(after), files=page.files),
            access=services().access.state(page.view.metadata),
            registrations=_registrations(page.view.recid),
            cited_by=page.cited_by,
            may_cite=services().citations.may_cite(page.view.concept_recid, principal()),
            may_new_version=_may_new_version(page.view),
            open_envs=open_envs,
            open_env=open_env,
            collections=services().collections.named(list(page.view.metadata.get("collections") or [])),
            **evidence,
            # a published result's files are histograms, not events: its page offers Re-run instead
            analyse=None if evidence["published_job"] else _analyse_panel(page.view.recid, page.view.metadata),
            **extra,
        ), status


def _may_new_version(view: Any) -> bool:
    """Whether the page offers "New version": to the record's owner (or a curator) who may deposit."""
    who = principal()
    owners = [view.owner_id] if view.owner_id is not None else []
    return who.authenticated and "deposit:write" in who.scopes and policy.may_edit(who, owners)


def _registrations(recid: int) -> list[Registration]:
    """How the DOIs of the record stand at the registry, for its owner and curators (empty for anyone else)."""
    registrations = services().registrations
    return registrations.of_record(recid, principal()) if registrations is not None else []


def _open_envs(metadata: dict[str, Any]) -> tuple[list[str], str | None]:
    """The environments a dataset may be opened in ("Open in JupyterLab") and the one chosen by default; none for
    other records."""
    manager = services().launches
    if manager is None or not services().settings.launch_enabled:
        return [], None
    if (metadata.get("type") or {}).get("primary") != "Dataset":
        return [], None
    return manager.environment_names(), manager.dataset_environment(metadata)


def _analyse_panel(recid: int, metadata: dict[str, Any]) -> Any:
    """The Analyse panel of a dataset (None for other records, or where analyses are not configured)."""
    jobs = services().analyses
    if jobs is None or (metadata.get("type") or {}).get("primary") != "Dataset":
        return None
    return jobs.panel(recid)


def _evidence(recid: int, metadata: dict[str, Any], outgoing: list[dict[str, Any]]) -> dict[str, Any]:
    """A result's evidence chain (None: the record relates to no data or code) and the job it was published
    from (None: not published from a job here, so it cannot be re-run)."""
    from portal.browse.chain import evidence_chain
    from portal.errors import NotFound

    jobs = services().analyses
    job = None
    if jobs is not None and "Derived" in ((metadata.get("type") or {}).get("secondary") or []):
        try:
            job = jobs.published_as(recid)
        except NotFound:
            job = None
    catalog = services().catalog

    def metadata_of(other: int) -> dict[str, Any] | None:
        try:
            return catalog.get(other).metadata
        except NotFound:
            return None

    chain = evidence_chain(
        recid,
        str(metadata.get("title") or recid),
        outgoing,
        metadata_of=metadata_of,
        link=lambda other: url_for("pages.record", recid=other),
        input_files=len((job.provenance or {}).get("files") or []) if job is not None else None,
    )
    return {"chain": chain, "published_job": job}


def _file_box(recid: int, pattern: str, *, paged: bool, files: FileSelection) -> dict[str, Any]:
    """The file box's rows and links: filtered by a glob or word (`files_q`), paged by a cursor (`files_after`),
    on the server, so the box works without JavaScript and stays fast whatever the number of files."""

    def link(**args: Any) -> str:
        return (
            url_for("pages.record", recid=recid, **{k: v for k, v in {"files_q": pattern, **args}.items() if v})
            + "#files-h"
        )

    links = paginate(link, cursor=("files_after", files.next_after), first=paged)
    return {"files": files.files, "q": pattern, "paged": paged, "next": links.get("next"), "first": links.get("first")}


@bp.get("/doi/<path:doi>")
def doi(doi: str) -> Any:
    view = services().catalog.find_by_doi(doi)
    services().access.require_record(principal(), view.recid)
    return redirect(url_for("pages.record", recid=view.recid), code=302)
