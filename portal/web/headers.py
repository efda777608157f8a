"""Security headers on every response the portal serves (pages, JSON, files, errors), and werkzeug's ProxyFix when
the portal runs behind trusted reverse proxies.

The Content-Security-Policy forbids inline scripts and styles (`script-src 'self'; style-src 'self'`): pages load
their behaviour from `web/static/` only, so an injected `<script>` or `onclick=` in a record's metadata cannot run.
`form-action` is left out on purpose: sign-in with an external identity provider and the hub's OAuth flow submit
forms that redirect to other origins, which Chromium checks against `form-action`.
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

#: One year, and subdomains: what HSTS preload lists ask for.
HSTS = "max-age=31536000; includeSubDomains"


def register(app: Flask) -> None:
    settings = app.extensions["portal"].settings
    if settings.trusted_proxies > 0:
        # Only the forwarded client address and scheme: X-Forwarded-Host/-Prefix are not set by every proxy, and a
        # header the proxy does not set would be taken from the client as it is.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0, x_port=0, x_prefix=0)  # type: ignore[method-assign]
    policy = settings.content_security_policy
    tls_site = settings.base_url.startswith("https://")

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        # setdefault: a view that needs another policy (none does today) sets its own.
        if policy:
            headers.setdefault("Content-Security-Policy", policy)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors 'none' for browsers without CSP 2
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if request.is_secure or tls_site:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response
