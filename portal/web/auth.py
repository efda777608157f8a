"""Who the request acts as: a bearer token, a signed-in browser session, or nobody; and signing a session in
and out. Permission decisions are not made here but in :mod:`portal.identity.policy`."""

from __future__ import annotations

from flask import current_app, g, request, session

from portal.errors import Unauthorized
from portal.i18n import N_
from portal.identity.principal import ANONYMOUS, Principal
from portal.identity.users import UserInfo

#: session keys: the user id and the user's session version when they signed in (bumped to sign out everywhere)
SESSION_USER = "uid"
SESSION_VERSION = "sv"


def principal() -> Principal:
    """The principal of this request, resolved once per request.

    ``Authorization: Bearer <personal access token>`` wins over the session cookie; a bad token is refused
    (401) rather than silently treated as anonymous, so a client learns that its token is wrong or revoked.
    """
    cached: Principal | None = g.get("principal")
    if cached is not None:
        return cached
    services = current_app.extensions["portal"]
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthorized(N_("send a personal access token as 'Authorization: Bearer <token>'"), field="token")
        found = services.tokens.authenticate(credential.strip())
    elif request.blueprint == "zenodo" and request.args.get("access_token"):
        # Zenodo's clients send their token as a query parameter; accepted on the Zenodo-compatible routes only
        found = services.tokens.authenticate(request.args["access_token"].strip())
    elif SESSION_USER in session:
        found = services.users.session_principal(int(session[SESSION_USER]), int(session.get(SESSION_VERSION, 0)))
        if found is None:  # signed out everywhere, disabled or deleted since: forget the stale session
            session.clear()
            found = ANONYMOUS
    else:
        found = ANONYMOUS
    g.principal = found
    return found


def sign_in(user: UserInfo) -> None:
    """Start a browser session for ``user`` (a fresh session: nothing from before sign-in carries over)."""
    session.clear()
    session[SESSION_USER] = user.id
    session[SESSION_VERSION] = user.session_version
    session.permanent = True
    g.principal = user.principal()


def sign_out() -> None:
    session.clear()
    g.principal = ANONYMOUS
