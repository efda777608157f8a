"""Signing in, out and up, on SQLite and PostgreSQL: OpenID Connect against a real provider on loopback (Authlib's
authorization server, tests/support/oidc_provider.py) with its failure modes, local passwords, CSRF refusals,
sign-up switched off, the profile page, cookies, and the `portal users` commands."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from click.testing import CliRunner

from portal.app import services_of
from portal.cli import main as cli
from portal.identity.principal import COMMAND_LINE
from portal.stack import ensure_first_admin
from tests.support.oidc_provider import CODE_LIFETIME, TestProvider, oidc_provider
from tests.support.users import CURATOR_SCOPES, bearer, token_for

PORTAL = "http://portal.test"  # settings_dict's base_url: the redirect URI the provider knows
SECRET = "portal-client-secret-for-tests"
OP_USERS = {
    "alice-sub": {
        "sub": "alice-sub",
        "name": "Alice Adams",
        "preferred_username": "alice",
        "email": "alice@example.org",
        "email_verified": True,
    },
    "mallory-sub": {
        "sub": "mallory-sub",
        "name": "Mallory",
        "preferred_username": "mallory",
        "email": "bob@example.org",  # someone else's address, which the provider has not verified
        "email_verified": False,
    },
    "0000-0002-1825-0097": {"sub": "0000-0002-1825-0097", "name": "Josiah Carberry"},
}


@pytest.fixture(scope="module")
def op():
    with oidc_provider(OP_USERS) as provider:
        provider.add_client(
            "portal",
            SECRET,
            [f"{PORTAL}/signin/oidc/{name}/callback" for name in ("test", "orcid", "github")],
        )
        yield provider


@pytest.fixture(autouse=True)
def fresh_op(op: TestProvider):
    op.clock_skew, op.tamper_nonce = 0.0, False
    op.authorize_requests.clear()
    yield


@pytest.fixture
def app_settings(op: TestProvider) -> dict[str, Any]:
    providers = {
        "test": {"issuer": op.issuer, "client_id": "portal", "client_secret": SECRET, "title": "Test OP"},
        # the ORCID preset (subject = ORCID iD), pointed at the test provider
        "orcid": {"preset": "orcid", "issuer": op.issuer, "client_id": "portal", "client_secret": SECRET},
        # a provider that cannot be reached (nothing listens on the discard port)
        "down": {"issuer": "http://127.0.0.1:9", "client_id": "portal", "client_secret": SECRET, "timeout": 2},
        # the GitHub preset (OAuth2 without ID tokens: the user API says who signed in), at the test provider
        "github": {
            "preset": "github",
            "client_id": "portal",
            "client_secret": SECRET,
            "scope": "profile",
            "authorize_url": op.issuer + "/authorize",
            "token_url": op.issuer + "/token",
            "userinfo_url": op.issuer + "/user",
        },
    }
    return {"oidc_providers": json.dumps(providers)}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def start(client, provider: str = "test", next_url: str = "/profile") -> str:
    """Press the provider's button on /signin: the authorization URL the browser is sent to."""
    token = csrf_of(client.get("/signin").get_data(as_text=True))
    response = client.post(f"/signin/oidc/{provider}", data={"csrf_token": token, "next": next_url})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def consent(authorize_url: str, sub: str) -> str:
    """Sign in at the provider (its form posts back to the authorization URL): the callback URL it redirects to."""
    response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    callback = response.headers["Location"]
    assert callback.startswith(PORTAL + "/signin/oidc/")
    return callback.removeprefix(PORTAL)


def sign_in_with_provider(client, sub: str, provider: str = "test"):
    return client.get(consent(start(client, provider), sub))


def test_oidc_sign_in_with_pkce_creates_the_account_then_finds_it(client, op, app) -> None:
    authorize_url = start(client)
    sent = parse_qs(urlsplit(authorize_url).query)
    # authorization code + PKCE (S256), with state and nonce
    assert sent["response_type"] == ["code"] and sent["code_challenge_method"] == ["S256"]
    assert len(sent["code_challenge"][0]) >= 43 and sent["state"][0] and sent["nonce"][0]
    assert sent["redirect_uri"] == [f"{PORTAL}/signin/oidc/test/callback"]

    response = client.get(consent(authorize_url, "alice-sub"))
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    page = client.get("/profile").get_data(as_text=True)
    assert "Alice Adams" in page and 'id="profile-username">alice<' in page and "Sign out" in page

    users = services_of(app).users
    alice = users.by_username("alice")
    assert alice.email == "alice@example.org" and not alice.has_password
    client.post("/signout", data={"csrf_token": csrf_of(page)})
    assert "Sign in" in client.get("/").get_data(as_text=True)
    sign_in_with_provider(client, "alice-sub")
    assert users.count() == 1  # the second sign-in found the same account
    actions = [e.action for e in services_of(app).audit.entries()]
    assert actions.count("signin") == 2 and "signout" in actions and "signup" in actions


def test_first_sign_in_links_an_account_by_verified_email_only(client, op, app) -> None:
    users = services_of(app).users
    local_alice = users.create(COMMAND_LINE, "alice-local", email="alice@example.org", password="a long password")
    users.create(COMMAND_LINE, "bob", email="bob@example.org", password="a long password")
    sign_in_with_provider(client, "alice-sub")
    assert "alice-local" in client.get("/profile").get_data(as_text=True)  # linked: the provider verified it
    client.post("/signout", data={"csrf_token": csrf_of(client.get("/profile").get_data(as_text=True))})
    sign_in_with_provider(client, "mallory-sub")
    page = client.get("/profile").get_data(as_text=True)
    assert "mallory" in page and "bob@example.org" not in page  # unverified: a new account, without the email
    assert users.count() == 3 and users.get(local_alice.id).username == "alice-local"


def test_the_orcid_provider_stores_the_orcid_id_shown_as_a_link(client, op, app) -> None:
    sign_in_with_provider(client, "0000-0002-1825-0097", provider="orcid")
    page = client.get("/profile").get_data(as_text=True)
    assert 'href="https://orcid.org/0000-0002-1825-0097"' in page and "Josiah Carberry" in page


def test_the_github_preset_reads_who_signed_in_from_the_user_api(client, op, app) -> None:
    users = services_of(app).users
    local = users.create(COMMAND_LINE, "alice-local", email="alice@example.org", password="a long password")
    authorize_url = start(client, "github")
    assert "nonce" not in parse_qs(urlsplit(authorize_url).query)  # no ID token, so no nonce
    assert client.get(consent(authorize_url, "alice-sub")).status_code == 302
    alice = users.by_username("alice")  # preferred_username from the user API's `login`
    # a user API does not vouch for the email as a verified ID token does: a new account, not the local one
    assert alice.id != local.id and alice.name == "Alice Adams" and alice.email is None
    client.post("/signout", data={"csrf_token": csrf_of(client.get("/").get_data(as_text=True))})
    sign_in_with_provider(client, "alice-sub", provider="github")
    assert users.count() == 2  # found again by the user API's id


def test_a_callback_with_another_state_is_refused(client, op, app) -> None:
    callback = consent(start(client), "alice-sub")
    forged = re.sub(r"state=[^&]+", "state=forged", callback)
    response = client.get(forged)
    assert response.status_code == 400
    assert "does not match the sign-in this browser started (state)" in response.get_data(as_text=True)
    assert services_of(app).users.count() == 0
    failed = services_of(app).audit.entries(action="signin.failed")
    assert failed and failed[0].detail["field"] == "state"
    # and the genuine answer cannot be used after that: the pending sign-in was spent
    assert client.get(callback).status_code == 400


def test_an_id_token_with_another_nonce_is_refused(client, op, app) -> None:
    callback = consent(start(client), "alice-sub")
    op.tamper_nonce = True
    response = client.get(callback)
    assert response.status_code == 401
    assert "does not validate" in response.get_data(as_text=True) and "nonce" in response.get_data(as_text=True)
    assert services_of(app).users.count() == 0
    assert "Sign in" in client.get("/").get_data(as_text=True)


def test_an_expired_code_is_refused(client, op, app) -> None:
    callback = consent(start(client), "alice-sub")
    op.clock_skew = CODE_LIFETIME + 1
    response = client.get(callback)
    assert response.status_code == 401
    text = response.get_data(as_text=True)
    assert "refused the sign-in code (invalid_grant" in text and "expired" in text
    assert services_of(app).users.count() == 0


def test_the_provider_refusing_is_shown(client, op, app) -> None:
    authorize_url = start(client)
    denied = requests.post(authorize_url, data={"sub": "nobody"}, allow_redirects=False, timeout=10)
    response = client.get(denied.headers["Location"].removeprefix(PORTAL))
    assert response.status_code == 401 and "did not sign you in (access_denied" in response.get_data(as_text=True)


def test_a_provider_that_cannot_be_reached_is_named(client, app) -> None:
    token = csrf_of(client.get("/signin").get_data(as_text=True))
    response = client.post("/signin/oidc/down", data={"csrf_token": token}, headers={"Accept": "application/json"})
    assert response.status_code == 503 and "down cannot be reached" in response.get_json()["detail"]
    unknown = client.post("/signin/oidc/nope", data={"csrf_token": token}, headers={"Accept": "application/json"})
    assert unknown.status_code == 404 and "no sign-in provider 'nope'" in unknown.get_json()["detail"]


def test_local_sign_in_and_out(client, app) -> None:
    services_of(app).users.create(COMMAND_LINE, "carol", name="Carol C.", password="correct horse battery")
    token = csrf_of(client.get("/signin?next=/search").get_data(as_text=True))
    wrong = client.post("/signin", data={"csrf_token": token, "username": "carol", "password": "nope"})
    assert wrong.status_code == 401 and "wrong user name or password" in wrong.get_data(as_text=True)
    ok = client.post(
        "/signin",
        data={"csrf_token": token, "username": "carol", "password": "correct horse battery", "next": "/search"},
    )
    assert ok.status_code == 302 and ok.headers["Location"] == "/search"
    home = client.get("/").get_data(as_text=True)
    assert 'id="account-name"' in home and "Carol C." in home
    out = client.post("/signout", data={"csrf_token": csrf_of(home)})
    assert out.status_code == 302
    assert "Sign in" in client.get("/").get_data(as_text=True)
    assert client.get("/profile").status_code == 302  # to the sign-in page
    actions = [e.action for e in services_of(app).audit.entries()][:3]
    assert actions == ["signout", "signin", "signin.failed"]


def test_sign_in_never_redirects_off_site(client, app) -> None:
    services_of(app).users.create(COMMAND_LINE, "dave", password="correct horse battery")
    token = csrf_of(client.get("/signin").get_data(as_text=True))
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        client.post("/signout", data={"csrf_token": token})
        token = csrf_of(client.get("/signin").get_data(as_text=True))
        response = client.post(
            "/signin",
            data={"csrf_token": token, "username": "dave", "password": "correct horse battery", "next": target},
        )
        assert response.headers["Location"] == "/", target
        token = csrf_of(client.get("/").get_data(as_text=True))


def test_forms_without_or_with_a_bad_csrf_token_are_refused(client, app) -> None:
    services_of(app).users.create(COMMAND_LINE, "erin", password="correct horse battery")
    client.get("/signin")
    for data in ({}, {"csrf_token": "not-the-token"}):
        response = client.post("/signin", data={**data, "username": "erin", "password": "correct horse battery"})
        assert response.status_code == 400
        text = response.get_data(as_text=True)
        assert "CSRF token" in text and "reload it and submit again" in text
    problem = client.post("/signin", data={"username": "erin"}, headers={"Accept": "application/json"})
    assert problem.status_code == 400 and problem.get_json()["field"] == "csrf_token"
    assert client.post("/signup", data={"username": "zed"}).status_code == 400
    assert client.post("/signin/oidc/test", data={}).status_code == 400
    assert "Sign in" in client.get("/").get_data(as_text=True)  # nothing happened


def test_api_requests_with_a_bearer_token_are_not_csrf_checked(client, app) -> None:
    # the write API authenticates its caller itself (here a curator's personal access token): no CSRF token needed
    curator = token_for(app, CURATOR_SCOPES, username="cura", roles=["curator"])
    response = client.post("/api/records/424242/versions", headers=bearer(curator))
    assert response.status_code == 404
    # a signed-in browser session writing to the API must send the token (X-CSRFToken), as a form would
    services_of(app).users.create(COMMAND_LINE, "fay", password="correct horse battery")
    token = csrf_of(client.get("/signin").get_data(as_text=True))
    client.post("/signin", data={"csrf_token": token, "username": "fay", "password": "correct horse battery"})
    refused = client.post("/api/records/424242/versions")
    assert refused.status_code == 400 and refused.get_json()["field"] == "csrf_token"


@pytest.mark.parametrize("app_settings", [{"signup_open": False}])
def test_sign_up_switched_off(client, app) -> None:
    page = client.get("/signup")
    assert page.status_code == 403 and "sign-up is closed" in page.get_data(as_text=True)
    assert "Create one" not in client.get("/signin").get_data(as_text=True)
    token = csrf_of(client.get("/signin").get_data(as_text=True))
    form = {"csrf_token": token, "username": "gus", "password": "a long password", "password2": "a long password"}
    assert client.post("/signup", data=form).status_code == 403
    assert services_of(app).users.count() == 0


def test_local_passwords_switched_off(make_app, app_settings) -> None:
    app = make_app(**app_settings, signin_local=False)
    client = app.test_client()
    services_of(app).users.create(COMMAND_LINE, "lou", password="correct horse battery")
    page = client.get("/signin").get_data(as_text=True)
    assert 'id="signin-submit"' not in page and "Create one" not in page and "Sign in with Test OP" in page
    token = csrf_of(page)
    response = client.post(
        "/signin", data={"csrf_token": token, "username": "lou", "password": "correct horse battery"}
    )
    assert response.status_code == 403 and "switched off" in response.get_data(as_text=True)
    assert client.get("/signup").status_code == 403  # no local accounts, so no sign-up either


def test_sign_up_creates_a_local_account_and_signs_in(client, app) -> None:
    token = csrf_of(client.get("/signup").get_data(as_text=True))
    form = {"csrf_token": token, "username": "hana", "name": "Hana H.", "email": "hana@example.org"}
    differ = client.post("/signup", data={**form, "password": "a long password", "password2": "another one!"})
    assert differ.status_code == 400 and "the two passwords differ" in differ.get_data(as_text=True)
    bad = client.post(
        "/signup", data={**form, "username": "H", "password": "a long password", "password2": "a long password"}
    )
    assert bad.status_code == 400 and "a user name is 2-32 characters" in bad.get_data(as_text=True)
    ok = client.post("/signup", data={**form, "password": "a long password", "password2": "a long password"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/profile"
    assert "Hana H." in client.get("/profile").get_data(as_text=True)
    assert services_of(app).audit.entries(action="signup")[0].target == "user hana"


def test_profile_edits_name_and_orcid(client, app) -> None:
    services_of(app).users.create(COMMAND_LINE, "ivan", password="correct horse battery")
    token = csrf_of(client.get("/signin").get_data(as_text=True))
    client.post("/signin", data={"csrf_token": token, "username": "ivan", "password": "correct horse battery"})
    token = csrf_of(client.get("/profile").get_data(as_text=True))
    bad = client.post("/profile", data={"csrf_token": token, "name": "Ivan I.", "orcid": "1234"})
    assert bad.status_code == 400 and "is not an ORCID iD" in bad.get_data(as_text=True)
    ok = client.post("/profile", data={"csrf_token": token, "name": "Ivan I.", "orcid": "0000-0002-1825-0097"})
    assert ok.status_code == 200 and "Saved." in ok.get_data(as_text=True)
    assert "Ivan I." in client.get("/").get_data(as_text=True)  # the header follows the new name
    user = services_of(app).users.by_username("ivan")
    assert user.name == "Ivan I." and user.orcid == "0000-0002-1825-0097"


def test_session_cookie_is_http_only_same_site_and_secure_over_https(make_app) -> None:
    for base_url, secure in (("http://portal.test", False), ("https://portal.example", True)):
        client = make_app(base_url=base_url).test_client()
        assert "Set-Cookie" not in client.get("/").headers  # anonymous reading sets no cookie
        cookie = client.get("/signin").headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure, cookie


def test_users_commands(settings_dict) -> None:
    env = {f"PORTAL_{k.upper()}": str(v) for k, v in settings_dict.items()}
    runner = CliRunner()
    created = runner.invoke(cli, ["users", "create", "jo", "--name", "Jo J.", "--generate-password"], env=env)
    assert created.exit_code == 0, created.output
    password = re.search(r"password: (\S+)", created.output).group(1)  # type: ignore[union-attr]
    prompted = runner.invoke(
        cli, ["users", "create", "kim", "--role", "curator"], input="kims password!\n" * 2, env=env
    )
    assert prompted.exit_code == 0 and "roles: user, curator" in prompted.output, prompted.output
    assert runner.invoke(cli, ["users", "set-role", "jo", "admin"], env=env).output.strip() == "jo: roles user, admin"
    assert "disabled" in runner.invoke(cli, ["users", "disable", "kim"], env=env).output
    listing = runner.invoke(cli, ["users", "list"], env=env)
    assert listing.exit_code == 0 and "2 user(s)" in listing.output and "disabled" in listing.output
    bad = runner.invoke(cli, ["users", "set-role", "jo", "superuser"], env=env)
    assert bad.exit_code == 1 and "unknown role(s) superuser" in bad.output
    from portal.services import build_services
    from portal.settings import load_settings

    svc = build_services(load_settings(settings_dict))
    assert svc.users.authenticate("jo", password).roles == ["admin"]


def test_the_stack_creates_a_first_admin_once_and_prints_its_password(app, capsys) -> None:
    svc = services_of(app)
    assert ensure_first_admin(svc) == "admin"
    printed = capsys.readouterr().out
    password = re.search(r"password '([^']+)'", printed).group(1)  # type: ignore[union-attr]
    assert svc.users.authenticate("admin", password).roles == ["admin"]
    assert ensure_first_admin(svc) is None and capsys.readouterr().out == ""
    assert password not in json.dumps([e.detail for e in svc.audit.entries()])
