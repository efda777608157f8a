"""The reader's language (English or French) and localised dates and numbers, with Flask-Babel.

The language comes from, in order: the URL (``?lang=fr``, which also sets a cookie so the next pages follow), the
cookie, the browser's ``Accept-Language``, English. Catalogues live in ``portal/translations`` (`make translations`
extracts, updates and compiles them). Record content (titles, descriptions, lessons) stays in its own language.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, Response, request
from flask_babel import (
    Babel,
    format_date,
    format_datetime,
    format_decimal,
    format_percent,
    get_locale,
    get_translations,
    gettext,
)
from jinja2 import Undefined
from werkzeug.datastructures import MultiDict

from portal.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_

TRANSLATIONS = Path(__file__).resolve().parents[1] / "translations"
COOKIE = "portal_lang"
COOKIE_DAYS = 365
SIZE_UNITS = (N_("B"), N_("kB"), N_("MB"), N_("GB"), N_("TB"), N_("PB"))
# States the account pages show from the data (`translate(x.state)`): jobs, launch sessions, record versions.
STATES = (N_("queued"), N_("running"), N_("done"), N_("failed"), N_("cancelled"), N_("starting"), N_("ready"))
# States of a DOI registration (the record page and /admin/pids)
PID_STATES = (N_("pending"), N_("registered"))
# Outcomes of a release webhook delivery (a repository's page)
DELIVERY_OUTCOMES = (N_("created"), N_("refused"))
STATUSES = (N_("draft"), N_("published"), N_("removed"))
# A draft's file, as its table says (`translate(f.status)` on the deposit page): being sent, or there whole
UPLOAD_STATUSES = (N_("pending"), N_("completed"))
# Review requests' states and the actions of their timelines (`translate(r.state)`, `translate(e.action)`).
REVIEW_WORDS = (
    N_("submitted"),
    N_("accepted"),
    N_("declined"),
    N_("cancelled"),
    N_("submit"),
    N_("accept"),
    N_("decline"),
    N_("cancel"),
)


def translate_message(message: str, plural: str | None = None, num: int = 1) -> str:
    """What domain errors are translated with (`PortalError.localized`): gettext, or ngettext for a message with a
    plural form. The catalogue's own methods, not Flask-Babel's helpers: those %-format the text, and these messages
    are filled with str.format afterwards."""
    translations = get_translations()
    return translations.ugettext(message) if plural is None else translations.ungettext(message, plural, num)


def _from_url() -> str | None:
    lang = request.args.get("lang")
    return lang if lang in LANGUAGES else None


def select_language() -> str:
    cookie = request.cookies.get(COOKIE)
    return (
        _from_url()
        or (cookie if cookie in LANGUAGES else None)
        or request.accept_languages.best_match(list(LANGUAGES))
        or DEFAULT_LANGUAGE
    )


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE


def language_url(lang: str) -> str:
    """This page in another language: the same path and query, with ``lang`` replaced."""
    args = MultiDict(request.args)
    args.setlist("lang", [lang])
    return f"{request.path}?{urlencode(list(args.items(multi=True)))}"


def number(value: float | None, digits: int = 0) -> str:
    if value is None or isinstance(value, Undefined):
        return "–"
    return format_decimal(value, format="#,##0" + ("." + "0" * digits if digits else ""))


def percent(value: float | None) -> str:
    if value is None or isinstance(value, Undefined):
        return "–"
    return format_percent(value, format="#,##0.0%")


def filesize(size: int | None) -> str:
    if size is None or isinstance(size, Undefined):  # a field the record does not have
        return "–"
    value = float(size)
    for unit in SIZE_UNITS:
        if value < 1000 or unit == SIZE_UNITS[-1]:
            return f"{number(value, 0 if unit == 'B' else 1)}\u00a0{gettext(unit)}"
        value /= 1000
    raise AssertionError("unreachable: the last unit takes any size")


def localdate(value: date | str | None) -> str:
    """A day in the reader's language; an ISO date string (record metadata) too, other strings ("2012") as they are."""
    if value is None or isinstance(value, Undefined) or value == "":
        return "–"
    if isinstance(value, str):
        try:
            day = date.fromisoformat(value[:10])
        except ValueError:
            return value
        return format_date(day, format="medium") if len(value) == 10 else value
    return format_date(value, format="medium")


def localdatetime(value: datetime | None) -> str:
    if value is None or isinstance(value, Undefined):
        return "–"
    return format_datetime(value, format="short")


def register(app: Flask) -> None:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT_LANGUAGE
    Babel(app, locale_selector=select_language)
    # Collapse the whitespace of {% trans %} blocks, as `pybabel extract` does (babel.cfg: trimmed), so msgids match.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    # A msgid held in a variable (a facet label, a job state): translated, never %-formatted as `_()` would.
    app.jinja_env.globals["translate"] = gettext
    app.jinja_env.filters.update(
        number=number, percent=percent, filesize=filesize, localdate=localdate, localdatetime=localdatetime
    )
    # a reason a row keeps as a message id (a delivery's): in the reader's language; old rows' text as it is
    app.jinja_env.filters["localized_reason"] = lambda item: item.localized_reason(translate_message)

    @app.context_processor
    def _languages() -> dict[str, object]:
        return {"current_language": current_language(), "languages": LANGUAGES, "language_url": language_url}

    secure = app.extensions["portal"].settings.base_url.startswith("https://")

    @app.after_request
    def _remember(response: Response) -> Response:
        lang = _from_url()
        if lang:
            response.set_cookie(COOKIE, lang, max_age=COOKIE_DAYS * 86400, samesite="Lax", httponly=True, secure=secure)
        if response.mimetype in ("text/html", "application/problem+json"):
            # Pages and problems differ by language: a shared cache must key them on what chose it.
            response.vary.update(("Accept-Language", "Cookie"))
        return response
