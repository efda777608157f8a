"""Security headers on every kind of response (page, JSON, static file, error), HSTS only over TLS, and the client
address and scheme behind trusted proxies (ProxyFix)."""

from __future__ import annotations

import pytest

from portal.web.request import client_ip

CSP = "default-src 'self'; script-src 'self'; style-src 'self'"


def assert_secured(response) -> None:
    headers = response.headers
    policy = headers["Content-Security-Policy"]
    assert policy.startswith(CSP) and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


@pytest.mark.parametrize(
    ("path", "status", "mimetype"),
    [
        ("/", 200, "text/html"),
        ("/search?q=muon", 200, "text/html"),
        ("/api/records?q=muon", 200, "application/json"),
        ("/api/openapi.json", 200, "application/json"),
        ("/static/portal.js", 200, "text/javascript"),
        ("/static/portal.css", 200, "text/css"),
        ("/record/1", 404, "text/html"),
        ("/api/records/1", 404, "application/problem+json"),
        ("/api/records?size=0", 400, "application/problem+json"),
        ("/robots.txt", 200, "text/plain"),
    ],
)
def test_every_response_carries_the_security_headers(client, path, status, mimetype):
    response = client.get(path)
    assert (response.status_code, response.mimetype) == (status, mimetype)
    assert_secured(response)
    assert "Strict-Transport-Security" not in response.headers  # plain http: HSTS would be ignored, and wrong


def test_hsts_over_tls_or_for_an_https_site(make_app):
    client = make_app().test_client()
    hsts = client.get("/", base_url="https://portal.test").headers["Strict-Transport-Security"]
    assert hsts.startswith("max-age=31536000")
    # behind a TLS-terminating proxy the portal itself speaks http, but its public URL says https
    assert "Strict-Transport-Security" in make_app(base_url="https://opendata.example").test_client().get("/").headers


def test_the_policy_is_a_setting(make_app):
    client = make_app(content_security_policy="default-src 'none'").test_client()
    assert client.get("/").headers["Content-Security-Policy"] == "default-src 'none'"
    assert "Content-Security-Policy" not in make_app(content_security_policy="").test_client().get("/").headers


def _whoami(app):
    app.add_url_rule("/test/whoami", "test_whoami", lambda: {"ip": client_ip(), "scheme": _scheme()})
    return app.test_client()


def _scheme() -> str:
    from flask import request

    return request.scheme


def test_behind_one_trusted_proxy_the_client_address_and_scheme_are_the_forwarded_ones(make_app):
    forwarded = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9", "X-Forwarded-Proto": "https"}
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    client = _whoami(make_app(trusted_proxies=1))
    response = client.get("/test/whoami", headers=forwarded, environ_base=proxy)
    # one proxy: only the address it appended is trusted (the first one could be forged by the client)
    assert response.get_json() == {"ip": "203.0.113.9", "scheme": "https"}
    assert "Strict-Transport-Security" in response.headers
    two = _whoami(make_app(trusted_proxies=2)).get("/test/whoami", headers=forwarded, environ_base=proxy)
    assert two.get_json()["ip"] == "198.51.100.7"
    # no trusted proxy (the default): the headers are the client's own words and are ignored
    direct = _whoami(make_app()).get("/test/whoami", headers=forwarded, environ_base=proxy)
    assert direct.get_json() == {"ip": "10.0.0.2", "scheme": "http"}


def test_rate_limits_count_forwarded_clients_apart(make_app):
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    behind = make_app(trusted_proxies=1, ratelimit_search="1 per minute").test_client()
    for ip in ("203.0.113.1", "203.0.113.2"):
        assert behind.get("/api/records", headers={"X-Forwarded-For": ip}, environ_base=proxy).status_code == 200
    assert behind.get("/api/records", headers={"X-Forwarded-For": "203.0.113.1"}, environ_base=proxy).status_code == 429
    direct = make_app(ratelimit_search="1 per minute").test_client()
    assert direct.get("/api/records", headers={"X-Forwarded-For": "203.0.113.1"}, environ_base=proxy).status_code == 200
    # without ProxyFix every forwarded client is the proxy: one budget for all
    assert direct.get("/api/records", headers={"X-Forwarded-For": "203.0.113.2"}, environ_base=proxy).status_code == 429
