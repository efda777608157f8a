"""The portal as the hub's OAuth2 provider, through its HTTP endpoints: who is signed in to the hub as whom,
and the authorization-code flow's refusals (unknown redirect, reused or expired code, wrong secret)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.identity.principal import COMMAND_LINE
from portal.identity.users import UserInfo

HUB = "http://127.0.0.1:8765"
CALLBACK = HUB + "/hub/oauth_callback"
CLIENT = {"launch_hub_client_id": "hub-test", "launch_hub_client_secret": "s3cret-" + "x" * 20}


@pytest.fixture
def app(make_app) -> Flask:
    return make_app(launch_hub_url=HUB, launch_user_prefix="p-", **CLIENT)


def sign_in(app: Flask, client: FlaskClient, user: UserInfo) -> None:
    with client.session_transaction() as sess:
        sess["uid"], sess["sv"] = user.id, user.session_version


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(client: FlaskClient, challenge: str, **extra: str):  # type: ignore[no-untyped-def]
    query = {
        "response_type": "code",
        "client_id": CLIENT["launch_hub_client_id"],
        "redirect_uri": CALLBACK,
        "state": "st-1",
        "scope": "openid profile",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return client.get("/oauth/authorize", query_string=query)


def exchange(client: FlaskClient, code: str, verifier: str, secret: str = CLIENT["launch_hub_client_secret"]):  # type: ignore[no-untyped-def]
    basic = base64.b64encode(f"{CLIENT['launch_hub_client_id']}:{secret}".encode()).decode()
    return client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier},
        headers={"Authorization": f"Basic {basic}"},
    )


def test_a_signed_in_person_signs_in_to_the_hub_as_their_own_hub_user(app: Flask) -> None:
    svc = app.extensions["portal"]
    alice = svc.users.create(COMMAND_LINE, "alice", password="correct horse battery")
    client = app.test_client()

    # nobody signed in: the sign-in page, coming back here afterwards
    verifier, challenge = pkce()
    anonymous = authorize(client, challenge)
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith("/signin?next=%2Foauth%2Fauthorize%3F")

    sign_in(app, client, alice)
    granted = authorize(client, challenge)
    assert granted.status_code == 302, granted.text
    location = urlsplit(granted.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == ["st-1"]
    code = query["code"][0]

    assert exchange(client, code, "not-the-verifier").status_code == 400  # PKCE holds
    assert exchange(client, code, verifier, secret="wrong").status_code == 401  # so does the client secret
    token = exchange(client, code, verifier)
    assert token.status_code == 200, token.text
    body = token.get_json()
    assert body["token_type"].lower() == "bearer" and body["expires_in"] == 3600
    again = exchange(client, code, verifier)  # a code is good once
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"

    info = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200
    assert info.get_json() == {
        "sub": str(alice.id),
        "hub_user": f"p-{alice.id}",
        "preferred_username": "alice",
        "name": "alice",
        "anonymous": False,
    }
    # signing out everywhere ends what the hub's token may learn too
    svc.users.set_password(COMMAND_LINE, alice.id, "another password 123")
    gone = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert gone.status_code == 401 and gone.get_json()["field"] == "token"
    assert client.get("/oauth/userinfo").status_code == 401


def test_refusals_never_redirect_to_an_unknown_place_and_expired_codes_fail(app: Flask) -> None:
    svc = app.extensions["portal"]
    bob = svc.users.create(COMMAND_LINE, "bob", password="correct horse battery")
    client = app.test_client()
    sign_in(app, client, bob)
    verifier, challenge = pkce()

    elsewhere = authorize(client, challenge, redirect_uri="https://evil.example/cb")
    assert elsewhere.status_code == 400 and "Location" not in elsewhere.headers
    assert "redirect" in elsewhere.text.lower()
    assert authorize(client, challenge, client_id="someone-else").status_code == 400

    code = parse_qs(urlsplit(authorize(client, challenge).headers["Location"]).query)["code"][0]
    later = datetime.now(UTC) + timedelta(minutes=6)  # codes live five minutes
    svc.hub_oauth.now = lambda: later
    expired = exchange(client, code, verifier)
    assert expired.status_code == 400 and expired.get_json()["error"] == "invalid_grant"


def test_an_anonymous_visitor_signs_in_as_the_hub_user_they_launched_as(app: Flask, make_app) -> None:
    client = app.test_client()
    _, challenge = pkce()
    with client.session_transaction() as sess:
        sess["anon_hub_user"] = "anon-0123456789ab"
    granted = authorize(client, challenge)
    assert granted.status_code == 302 and granted.headers["Location"].startswith(CALLBACK + "?code=")

    closed = make_app(launch_hub_url=HUB, launch_anonymous=False, **CLIENT).test_client()
    with closed.session_transaction() as sess:
        sess["anon_hub_user"] = "anon-0123456789ab"
    assert authorize(closed, challenge).headers["Location"].startswith("/signin?next=")


def test_without_a_registered_hub_client_there_is_no_provider(make_app) -> None:
    client = make_app().test_client()
    assert client.get("/oauth/authorize").status_code == 404
    assert client.post("/oauth/token").status_code == 404


def test_who_may_launch(make_app) -> None:
    # who may launch is decided before the hub is asked: the recording launcher stands in for a running hub
    open_app = make_app(launch_hub_url=HUB, launch_launcher="recording", **CLIENT)
    visitor = open_app.test_client()
    page = visitor.get("/launch/env/education")
    assert page.status_code == 200
    with visitor.session_transaction() as sess:
        first = sess["anon_hub_user"]
    assert first.startswith("anon-")
    visitor.get("/launch/env/education")
    with visitor.session_transaction() as sess:
        assert sess["anon_hub_user"] == first  # one anonymous hub user per browser session

    closed = make_app(launch_hub_url=HUB, launch_anonymous=False, launch_launcher="recording", **CLIENT)
    refused = closed.test_client().get("/launch/env/education")
    assert refused.status_code == 401 and "sign in to launch" in refused.text
    events = closed.test_client().get("/launch/env/education/events")
    assert events.status_code == 401  # before any event stream starts

    svc = closed.extensions["portal"]
    carol = svc.users.create(COMMAND_LINE, "carol", password="correct horse battery")
    _, read_only = svc.tokens.create(COMMAND_LINE, carol.id, "no launch", ["deposit:write"])
    denied = closed.test_client().get("/launch/env/education", headers={"Authorization": f"Bearer {read_only}"})
    assert denied.status_code == 403 and "lacks the &#39;launch&#39; scope" in denied.text
    _, launcher = svc.tokens.create(COMMAND_LINE, carol.id, "launch", ["launch"])
    allowed = closed.test_client().get("/launch/env/education", headers={"Authorization": f"Bearer {launcher}"})
    assert allowed.status_code == 200
    signed_in = closed.test_client()
    sign_in(closed, signed_in, carol)
    assert signed_in.get("/launch/env/education").status_code == 200
