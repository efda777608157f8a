"""CSRF protection for every form (Flask-WTF's :class:`CSRFProtect`), in one place.

Which writes are checked:

* every POST/PUT/PATCH/DELETE to a page (forms: sign-in, sign-up, sign-out, profile, ...) must carry the session's
  token as the ``csrf_token`` form field (templates: ``{{ csrf_token() }}``) or an ``X-CSRFToken`` header;
* a request with an ``Authorization`` header is exempt: browsers never add a bearer token on their own, so a
  forged cross-site request cannot carry one (API clients, the CLI, the hub's token calls);
* the JSON API (``/api/``) is checked only when the request rides on a signed-in browser session (the cookie is
  then the credential a forged request would borrow); an anonymous API call has nothing to borrow;
* a view marked with :func:`exempt` is not checked (an endpoint called server-to-server that authenticates the
  caller itself, such as an OAuth2 token endpoint with ``client_secret_post``).

A refused request is a 400 problem naming ``csrf_token``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, request, session
from flask_wtf.csrf import CSRFError, CSRFProtect

from portal.errors import Invalid
from portal.i18n import N_
from portal.web.auth import SESSION_USER

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
F = TypeVar("F", bound=Callable[..., object])


def exempt(view: F) -> F:
    """Mark ``view`` as not CSRF-checked (it must authenticate its caller another way)."""
    view.csrf_exempt = True  # type: ignore[attr-defined]
    return view


def register(app: Flask) -> None:
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked below, with the exemptions above
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # a token lasts as long as the session it belongs to
    csrf = CSRFProtect(app)

    @app.before_request
    def _check_csrf() -> None:
        if request.method not in UNSAFE or request.headers.get("Authorization"):
            return
        if request.path.startswith("/api/") and SESSION_USER not in session:
            return
        view = app.view_functions.get(request.endpoint or "")
        if view is not None and getattr(view, "csrf_exempt", False):
            return
        try:
            csrf.protect()
        except CSRFError as err:
            raise Invalid(
                N_(
                    "{err_description} The form was not sent from a page of this portal, "
                    "or the page is too old: reload it and submit again."
                ),
                err_description=err.description,
                field="csrf_token",
            ) from None
