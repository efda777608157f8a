"""Interoperability on the web: exports and content negotiation, FAIR Signposting, OAI-PMH, sitemap, robots."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, g, render_template, request, stream_with_context, url_for

from portal.exports.service import FORMATS, NEGOTIABLE
from portal.i18n import N_
from portal.identity.principal import ANONYMOUS
from portal.web import services
from portal.web.auth import principal
from portal.web.request import int_arg

bp = Blueprint("exports", __name__)
SITEMAP_CHUNK = 10_000


@bp.get("/record/<int:recid>/export/bagit")
def export_bagit(recid: int) -> Response:
    """The BagIt bag of a published version as one zip, streamed (built first in a temporary directory)."""
    bag = services().preservation.bags.zipped(recid, max_bytes=services().settings.bag_max_bytes)
    response = Response(stream_with_context(bag.chunks), mimetype="application/zip")
    response.content_length = bag.size
    response.headers["Content-Disposition"] = f'attachment; filename="{bag.name}"'
    return response


@bp.get("/record/<int:recid>/export/<fmt>")
def export(recid: int, fmt: str) -> Response:
    services().access.require_record(principal(), recid)  # a restricted record's metadata is hidden: 404
    body, mimetype = services().exports.render(recid, fmt)
    response = Response(body, mimetype=mimetype.split(";")[0])
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="record-{recid}.{_suffix(fmt)}"'
    return response


def _style_upload() -> bytes:
    """The CSL style of a citation request: the form's `style` file, else the request body."""
    from portal.errors import Invalid
    from portal.exports.csl import MAX_STYLE_BYTES

    if (request.content_length or 0) > MAX_STYLE_BYTES + 64 * 1024:
        raise Invalid(N_("the style is larger than {kb} kB"), kb=MAX_STYLE_BYTES // 1024, field="style")
    upload = request.files.get("style")
    if upload is not None:
        return upload.read(MAX_STYLE_BYTES + 1)
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise Invalid(N_("choose a CSL style file (form field `style`)"), field="style")
    return request.get_data(cache=False)


@bp.post("/api/records/<int:recid>/citation")
def cite_with_style_api(recid: int) -> Response:
    """The record in the CSL style sent (the body, or a multipart `style` file): JSON with the text."""
    styled = services().exports.cite_with_style(recid, _style_upload())
    return Response(json.dumps(styled.to_json(), ensure_ascii=False), mimetype="application/json")


@bp.post("/record/<int:recid>/citation")
def cite_with_style_page(recid: int) -> str:
    """The record page's "your own style" form: the reference in the uploaded CSL style."""
    styled = services().exports.cite_with_style(recid, _style_upload())
    return render_template("citation.html", styled=styled)


def negotiated(recid: int) -> Response | None:
    """An export when the Accept header prefers one of the export media types over JSON, else None."""
    best = request.accept_mimetypes.best_match(["application/json", *NEGOTIABLE])
    if best is None or best == "application/json" or best not in NEGOTIABLE:
        return None
    if request.accept_mimetypes[best] <= request.accept_mimetypes["application/json"]:
        return None
    return export(recid, NEGOTIABLE[best].name)


def _suffix(fmt: str) -> str:
    return {
        "datacite-xml": "xml",
        "dublincore": "xml",
        "bibtex": "bib",
        "apa": "txt",
        "harvard": "txt",
        "chicago": "txt",
    }.get(fmt, "json")


@bp.after_app_request
def _signposting(response: Response) -> Response:
    """FAIR Signposting `Link` headers on record landing pages (cite-as, describedby, type, license, item)."""
    if request.endpoint != "pages.record" or response.status_code != 200:
        return response
    recid = (request.view_args or {}).get("recid")
    if recid is None:
        return response
    rec = g.get("export_record")  # the record page built it already
    if rec is None or rec.view.recid != int(recid):
        rec = services().exports.record(int(recid))
    links = []
    if rec.doi:
        links.append(f'<https://doi.org/{rec.doi}>; rel="cite-as"')
    for name in ("datacite-json", "json-ld"):
        fmt = FORMATS[name]
        href = url_for("exports.export", recid=recid, fmt=name, _external=True)
        links.append(f'<{href}>; rel="describedby"; type="{fmt.mimetype}"')
    links.append(f'<https://schema.org/{rec.rtype.schema_org}>; rel="type"')
    links.append('<https://schema.org/AboutPage>; rel="type"')
    if rec.license_url:
        links.append(f'<{rec.license_url}>; rel="license"')
    for f in rec.view.files[:50]:
        href = url_for("files.download", recid=recid, key=f["key"], _external=True)
        links.append(f'<{href}>; rel="item"; type="application/octet-stream"')
    response.headers["Link"] = ", ".join(links)
    return response


@bp.route("/oai2d", methods=["GET", "POST"])
def oai() -> Response:
    args = request.form if request.method == "POST" else request.args
    body = services().oai.respond({k: args.getlist(k) for k in args})
    return Response(body, mimetype="text/xml")


@bp.get("/robots.txt")
def robots() -> Response:
    sitemap = url_for("exports.sitemap", _external=True)
    text = "\n".join(
        [
            "User-agent: *",
            "Disallow: /api/",
            "Disallow: /oai2d",
            "Disallow: /record/*/files/",
            "Disallow: /record/*/pack.zip",
            "Disallow: /record/*/export/",
            f"Sitemap: {sitemap}",
            "",
        ]
    )
    return Response(text, mimetype="text/plain")


@bp.get("/sitemap.xml")
def sitemap() -> Response:
    """A urlset when small; a sitemap index of chunks (keyset by recid) when larger than one chunk."""
    catalog = services().catalog
    after = int_arg("after", 0, minimum=0) if "after" in request.args else None
    if after is not None or catalog.count_published() <= SITEMAP_CHUNK:
        recids = catalog.list_recids(after=after or 0, limit=SITEMAP_CHUNK)
        hidden = services().access.hidden_recids(ANONYMOUS)  # crawlers never see restricted records
        urls = "".join(
            f"<url><loc>{url_for('pages.record', recid=r, _external=True)}</loc></url>"
            for r in recids
            if r not in hidden
        )
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{urls}</urlset>\n"
        )
        return Response(body, mimetype="application/xml")
    entries = [
        f"<sitemap><loc>{url_for('exports.sitemap', after=cursor, _external=True)}</loc></sitemap>"
        for cursor in catalog.chunk_starts(SITEMAP_CHUNK)
    ]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(entries)
        + "</sitemapindex>\n"
    )
    return Response(body, mimetype="application/xml")


def export_links(recid: int) -> list[dict[str, Any]]:
    return [
        {"name": f.name, "label": f.label, "href": url_for("exports.export", recid=recid, fmt=f.name)}
        for f in FORMATS.values()
    ]
