"""HTML pages: home, record page, DOI resolution. Rendering only; data comes from the catalogue service."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, url_for

from portal.catalog.markdown import render_markdown
from portal.web import services

bp = Blueprint("pages", __name__)

SECTIONS = (("abstract", "Abstract"), ("methodology", "Methodology"), ("usage", "How to use these data"),
            ("validation", "Validation"), ("use_with", "Use with"))


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


@bp.get("/")
def home() -> Any:
    catalog = services().catalog
    recids = catalog.list_recids(limit=50)
    records = [catalog.get(r) for r in recids]
    return render_template("home.html", records=records, total=catalog.count_published())


@bp.get("/record/<int:recid>")
def record(recid: int) -> Any:
    catalog = services().catalog
    target, is_concept = catalog.resolve(recid)
    if is_concept:
        return redirect(url_for("pages.record", recid=target), code=302)
    view = catalog.get(target)
    versions = catalog.versions(target)
    return render_template("record.html", r=view, md=view.metadata, versions=versions, sections=SECTIONS)


@bp.get("/doi/<path:doi>")
def doi(doi: str) -> Any:
    view = services().catalog.find_by_doi(doi)
    return redirect(url_for("pages.record", recid=view.recid), code=302)
