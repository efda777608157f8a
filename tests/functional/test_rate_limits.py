"""Rate limits on a real app (SQLite and PostgreSQL): 429 problem+json with Retry-After, one budget per client
(user, else IP), failed sign-ins counted and successful ones not, and the limits taken from settings."""

from __future__ import annotations

import re

import pytest
from flask import Flask, request

from portal.app import services_of
from portal.errors import Invalid
from portal.identity.principal import COMMAND_LINE
from portal.web.csrf import exempt
from portal.web.limits import count_as_failure, limit_signin
from tests.support.users import csrf, make_user, sign_in

ALICE = {"REMOTE_ADDR": "192.0.2.10"}
BOB = {"REMOTE_ADDR": "192.0.2.20"}


def assert_refused(response, mentions: str) -> None:
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 429 and problem["title"] == "Too Many Requests"
    assert mentions in problem["detail"]
    # Retry-After in seconds, at most the window: the client knows when to come back
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def test_the_21st_failed_sign_in_in_a_minute_gets_429_with_retry_after(app):
    services_of(app).users.create(COMMAND_LINE, "carol", password="correct horse battery")
    client = app.test_client()
    token = csrf_of(client.get("/signin", environ_base=ALICE).get_data(as_text=True))

    def sign_in(password: str, **kwargs):
        form = {"csrf_token": token, "username": "carol", "password": password}
        return client.post("/signin", data=form, environ_base=ALICE, **kwargs)

    for attempt in range(20):
        assert sign_in("wrong guess").status_code == 401, attempt
    # the 21st is refused before the password is checked, even the right one
    refused = sign_in("correct horse battery", headers={"Accept": "application/json"})
    assert_refused(refused, "failed sign-in")
    # a browser's form post gets the error page, with the same status and Retry-After
    page = sign_in("correct horse battery")
    assert page.status_code == 429 and page.mimetype == "text/html" and "Retry-After" in page.headers
    # the form stays readable (only submissions are limited); another address is not affected
    assert client.get("/signin", environ_base=ALICE).status_code == 200
    other = app.test_client()
    token = csrf_of(other.get("/signin", environ_base=BOB).get_data(as_text=True))
    form = {"csrf_token": token, "username": "carol", "password": "correct horse battery"}
    assert other.post("/signin", data=form, environ_base=BOB).status_code == 302  # signed in


def add_password_check(app: Flask) -> None:
    """A view guarded like the sign-in view, whose failures are not all 4xx: 401 for a wrong password, 200 for the
    right one, and 200 with the failure marked (:func:`count_as_failure`) for a form shown again."""

    @exempt  # a test route without a form; CSRF is the sign-in page's business, tested with it
    @limit_signin
    def check() -> tuple[str, int]:
        password = request.form.get("password")
        if password == "right":
            return "signed in", 200
        if password == "again":
            count_as_failure()
            return "wrong password, form shown again", 200
        return "wrong password", 401

    app.add_url_rule("/test/signin", "test_signin", check, methods=["POST"])


def test_only_failures_count_marked_or_4xx_and_by_address_even_when_signed_in(make_app):
    app = make_app(ratelimit_signin="3 per minute")
    add_password_check(app)
    svc = services_of(app)
    user = svc.users.create(COMMAND_LINE, "mallory", password="correct horse battery")
    signed_in = {"Authorization": "Bearer " + svc.tokens.create(COMMAND_LINE, user.id, "t", ["launch"])[1]}
    client = app.test_client()

    def attempt(password: str, **kwargs):
        return client.post("/test/signin", data={"password": password}, environ_base=ALICE, **kwargs).status_code

    assert attempt("wrong") == 401
    assert [attempt("right") for _ in range(5)] == [200] * 5  # successes do not count
    assert attempt("again") == 200  # the second failure, marked by the view
    # signed in or not, password guesses from one address share one budget
    assert attempt("wrong", headers=signed_in) == 401
    assert attempt("right", headers=signed_in) == 429
    assert attempt("right") == 429


def test_search_api_limit_is_per_client_and_answers_problem_json(make_app):
    client = make_app(ratelimit_search="3 per minute").test_client()
    for _ in range(3):
        assert client.get("/api/records?q=muon", environ_base=ALICE).status_code == 200
    assert_refused(client.get("/api/records?q=muon", environ_base=ALICE), "search")
    assert client.get("/api/records?q=muon", environ_base=BOB).status_code == 200
    # the limited route tells a client its budget before it runs out
    ok = client.get("/api/records", environ_base=BOB)
    assert ok.headers["X-RateLimit-Limit"] == "3" and ok.headers["X-RateLimit-Remaining"] == "1"
    # a record (not the search) is not limited
    assert client.get("/api/records/1", environ_base=ALICE).status_code == 404


def test_signed_in_users_have_their_own_budget_behind_one_address(make_app):
    app = make_app(ratelimit_search="2 per minute")
    svc = services_of(app)
    secrets = []
    for name in ("alice", "bob"):
        user = svc.users.create(COMMAND_LINE, name, email=f"{name}@example.org", password="correct horse battery")
        secrets.append(svc.tokens.create(COMMAND_LINE, user.id, "search", ["launch"])[1])
    client = app.test_client()
    alice, bob = ({"Authorization": f"Bearer {s}"} for s in secrets)
    for _ in range(2):
        assert client.get("/api/records", headers=alice, environ_base=ALICE).status_code == 200
    assert_refused(client.get("/api/records", headers=alice, environ_base=ALICE), "search")
    # same address, another user: counted apart; anonymous from that address too
    assert client.get("/api/records", headers=bob, environ_base=ALICE).status_code == 200
    assert client.get("/api/records", environ_base=ALICE).status_code == 200


def test_job_creation_and_launches_are_limited(make_app):
    client = make_app(ratelimit_analyses="2 per minute", ratelimit_launches="1 per minute", launch_enabled=False)
    client = client.test_client()
    for _ in range(2):  # every creation attempt counts, even a refused one (here anonymous: 401)
        assert client.post("/api/analyses", json={"analysis": "dimuon"}, environ_base=ALICE).status_code == 401
    assert_refused(client.post("/api/analyses", json={"analysis": "dimuon"}, environ_base=ALICE), "analysis jobs")
    assert client.get("/api/analyses", environ_base=ALICE).status_code == 401  # listing is not limited: not 429
    # one budget for every launch route
    assert client.get("/launch/lesson/collision-events/events", environ_base=ALICE).status_code == 503
    refused = client.get("/launch/env/python/events", headers={"Accept": "application/json"}, environ_base=ALICE)
    assert_refused(refused, "sessions launched")
    # a browser asking for a page gets the same refusal as an HTML page
    page = client.get("/launch/record/1/events", environ_base=ALICE, headers={"Accept": "text/html"})
    assert page.status_code == 429 and page.mimetype == "text/html" and "Retry-After" in page.headers


def test_limits_can_be_switched_off(make_app):
    client = make_app(ratelimit_search="1 per minute", ratelimit_enabled=False).test_client()
    assert all(client.get("/api/records").status_code == 200 for _ in range(3))


@pytest.mark.parametrize("text", ["lots", "20 per fortnight", ""])
def test_a_malformed_limit_is_refused_naming_the_setting(make_app, text):
    with pytest.raises(Invalid, match="PORTAL_RATELIMIT_SEARCH"):
        make_app(ratelimit_search=text)


def test_an_unusable_counter_store_is_refused_naming_the_setting(make_app):
    with pytest.raises(Invalid, match="PORTAL_RATELIMIT_STORAGE_URI"):
        make_app(ratelimit_storage_uri="nosuch://127.0.0.1")


def test_token_creation_is_limited_per_person(make_app):
    app = make_app(ratelimit_tokens="2 per minute")
    client = app.test_client()
    sign_in(client, make_user(app, "dora"))
    form = {"name": "t", "scopes": ["launch"], "expires_in_days": "30", **csrf(client)}
    assert [client.post("/settings/tokens", data=form).status_code for _ in range(2)] == [201, 201]
    assert_refused(client.post("/settings/tokens", data=form, headers={"Accept": "application/json"}), "token")
