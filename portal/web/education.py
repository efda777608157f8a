"""Education pages: the landing page by level and topic, lesson previews and sample-pack downloads."""

from __future__ import annotations

from contextlib import suppress
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, stream_with_context, url_for

from portal.education.lessons import Lesson, preview_html, preview_stylesheet
from portal.errors import PortalError
from portal.i18n import N_
from portal.web import services

bp = Blueprint("education", __name__)
LEVELS = (N_("beginner"), N_("intermediate"), N_("advanced"))  # msgids: the page shows them translated


def _data_dirs() -> list[Path]:
    return [Path(services().settings.data_dir)]


def _pack(lesson: Lesson) -> Any:
    doi = None
    with suppress(PortalError):  # a lesson not loaded into the catalogue still gets its pack, without a DOI
        doi = services().catalog.get(lesson.recid).doi
    return services().lessons.pack(lesson, _data_dirs(), doi=doi)


@lru_cache(maxsize=64)
def _pack_size(slug: str, stamp: tuple[float, ...]) -> int | None:
    # Keyed by the lesson files' modification times: sizes are recomputed only when something changed.
    try:
        return _pack(services().lessons.find(slug)).size
    except PortalError:
        return None


def pack_size(lesson: Lesson) -> int | None:
    stamp = tuple(p.stat().st_mtime for p in sorted(lesson.folder.iterdir()))
    return _pack_size(lesson.slug, (*stamp, hash(services().settings.data_dir), hash(str(lesson.folder))))


@bp.app_context_processor
def _lesson_helpers() -> dict[str, Any]:
    def lesson_pack_size(slug: str) -> int | None:
        try:
            return pack_size(services().lessons.find(slug))
        except PortalError:
            return None

    return {"lesson_pack_size": lesson_pack_size}


@bp.get("/education")
def landing() -> Any:
    lessons = services().lessons.all()
    catalog = services().catalog
    published = {}
    for lesson in lessons:
        try:
            published[lesson.slug] = catalog.get(lesson.recid)
        except PortalError:
            continue
    by_level = {
        level: [lesson for lesson in lessons if lesson.spec["level"] == level and lesson.slug in published]
        for level in LEVELS
    }
    topics = sorted({t for lesson in lessons for t in lesson.spec.get("topics", [])})
    return render_template(
        "education.html",
        by_level=by_level,
        published=published,
        topics=topics,
        sizes={lesson.slug: pack_size(lesson) for lesson in lessons},
    )


@bp.get("/education/<slug>")
def lesson_page(slug: str) -> Any:
    return redirect(url_for("pages.record", recid=services().lessons.find(slug).recid))


@bp.get("/education/<slug>/preview")
def preview(slug: str) -> Any:
    lesson = services().lessons.find(slug)
    return render_template("lesson_preview.html", lesson=lesson, cells=preview_html(lesson))


@bp.get("/education/preview.css")
def preview_css() -> Response:
    response = Response(preview_stylesheet(), mimetype="text/css")
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response


@bp.get("/education/<slug>/pack.zip")
def pack(slug: str) -> Response:
    result = _pack(services().lessons.find(slug))
    response = Response(stream_with_context(iter(result.stream)), mimetype="application/zip")
    response.content_length = result.size
    response.headers["Content-Disposition"] = f'attachment; filename="{result.name}"'
    return response


@bp.get("/api/education/lessons")
def lessons_api() -> Any:
    out = []
    for lesson in services().lessons.all():
        spec = lesson.spec
        out.append(
            {
                "slug": lesson.slug,
                "recid": lesson.recid,
                "title": spec["title"],
                "level": spec["level"],
                "duration_minutes": spec["duration_minutes"],
                "topics": spec.get("topics", []),
                "pack": {"size": pack_size(lesson), "download": url_for("education.pack", slug=lesson.slug)},
                "preview": url_for("education.preview", slug=lesson.slug),
            }
        )
    return jsonify({"lessons": out})
