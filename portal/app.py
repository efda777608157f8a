"""`create_app(settings)`: the one assembly point. Nothing runs at import time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask

from portal.services import Services, build_services
from portal.settings import Settings, load_settings


def create_app(settings: Settings | Mapping[str, Any] | None = None, *, services: Services | None = None) -> Flask:
    """Build the Flask app. ``settings`` may be a :class:`Settings` or a dict of overrides (tests)."""
    if not isinstance(settings, Settings):
        settings = load_settings(settings)
    from portal.ops.logs import configure_logging

    configure_logging(settings.log_format, settings.log_level)
    services = services or build_services(settings)
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config["SECRET_KEY"] = settings.secret_key
    # the session cookie: never readable by scripts, not sent on cross-site POSTs, HTTPS-only when served so
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = settings.base_url.startswith("https://")
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=settings.session_days)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["portal"] = services

    from portal.web import register_blueprints

    register_blueprints(app)
    return app


def services_of(app: Flask) -> Services:
    return app.extensions["portal"]
