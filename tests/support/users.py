"""People for functional tests: accounts, their personal access tokens, and signed-in test clients.

Functions take the app (its services make the user, as `portal users create` would); the `user_token` fixture
(exposed by tests/conftest.py) binds them to the test's `app`:

    token = user_token(["analyses:run"])                      # a user "writer" with that token
    token = user_token(["deposit:publish", "curate"], username="cura", roles=["curator"])
    client.post(..., headers=bearer(token))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.app import services_of
from portal.errors import NotFound
from portal.identity.principal import COMMAND_LINE
from portal.identity.users import UserInfo
from portal.web.auth import SESSION_USER, SESSION_VERSION


def make_user(app: Flask, username: str, *, roles: Iterable[str] = (), password: str | None = None) -> UserInfo:
    """The account ``username`` (created with ``roles`` the first time)."""
    users = services_of(app).users
    try:
        return users.by_username(username)
    except NotFound:
        return users.create(COMMAND_LINE, username, roles=roles, password=password)


def token_for(
    app: Flask, scopes: Iterable[str], *, username: str = "writer", roles: Iterable[str] = (), expires_in_days: int = 30
) -> str:
    """A new personal access token of ``username`` (made if needed) carrying ``scopes``; its secret."""
    user = make_user(app, username, roles=roles)
    _info, secret = services_of(app).tokens.create(
        COMMAND_LINE, user.id, "test", scopes, expires_in_days=expires_in_days
    )
    return secret


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(client: FlaskClient, user: UserInfo) -> FlaskClient:
    """Make ``client`` a browser signed in as ``user`` (the session the sign-in page would set)."""
    with client.session_transaction() as session:
        session[SESSION_USER] = user.id
        session[SESSION_VERSION] = user.session_version
    return client


def csrf(client: FlaskClient) -> dict[str, str]:
    """The form field a signed-in ``client``'s forms carry (CSRF token of its session), read from a page."""
    page = client.get("/settings/tokens").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on /settings/tokens"
    return {"csrf_token": found.group(1)}


@pytest.fixture
def user_token(app: Flask) -> Callable[..., str]:
    """``user_token(scopes, username="writer", roles=())``: a token of a user of the test's app."""

    def make(scopes: Iterable[str], *, username: str = "writer", roles: Iterable[str] = ()) -> str:
        return token_for(app, scopes, username=username, roles=roles)

    return make


#: the scopes of the old shared curator token, for tests of writes that a curator does
CURATOR_SCOPES = ("deposit:write", "deposit:publish", "analyses:run", "curate")
