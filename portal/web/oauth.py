"""The portal as the hub's OAuth2 provider (Authlib's server parts): /oauth/authorize, /oauth/token,
/oauth/userinfo. The protocol is Authlib's; who may sign in as which hub user is :mod:`portal.identity.oauth`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Blueprint, Flask, current_app, jsonify, redirect, request, session

from portal.errors import Invalid, NotFound, Unauthorized
from portal.i18n import N_
from portal.identity.oauth import TOKEN_SECONDS, HubIdentity, HubOAuthProvider, StoredCode
from portal.identity.policy import require_scope
from portal.launch.people import ANON_NAME, hub_username
from portal.web import services
from portal.web.auth import principal
from portal.web.csrf import exempt

bp = Blueprint("oauth", __name__)

#: the browser session's anonymous hub user (set by its first anonymous launch)
ANON_SESSION = "anon_hub_user"


class _CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    # oauthenticator sends the client secret as HTTP Basic by default; some clients post it
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    @property
    def provider(self) -> HubOAuthProvider:
        return _provider()

    def save_authorization_code(self, code: str, req: Any) -> None:
        data = req.payload.data
        self.provider.save_code(
            code,
            req.user,
            redirect_uri=req.payload.redirect_uri or self.provider.client.redirect_uri,
            scope=req.scope or "",
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method")
            or ("plain" if data.get("code_challenge") else None),
        )

    def query_authorization_code(self, code: str, client: Any) -> StoredCode | None:
        return self.provider.find_code(code, client.get_client_id())

    def delete_authorization_code(self, authorization_code: StoredCode) -> None:
        self.provider.delete_code(authorization_code)

    def authenticate_user(self, authorization_code: StoredCode) -> HubIdentity:
        return authorization_code.identity


def _provider() -> HubOAuthProvider:
    provider = services().hub_oauth
    if provider is None:
        raise NotFound(N_("the portal is not the hub's OAuth2 provider here (no PORTAL_LAUNCH_HUB_CLIENT_ID)"))
    return provider


def _server() -> AuthorizationServer:
    server: AuthorizationServer = current_app.extensions["portal_oauth"]
    return server


def init_app(app: Flask) -> None:
    """One Authlib server per app; its client and codes come from the app's services."""
    app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = lambda client, grant_type, user, scope: _provider().issue_token(user)
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": TOKEN_SECONDS}
    server = AuthorizationServer()
    server.init_app(app, query_client=lambda cid: _provider().query_client(cid), save_token=lambda token, req: None)
    server.register_grant(_CodeGrant, [CodeChallenge(required=False)])
    app.extensions["portal_oauth"] = server
    app.register_blueprint(bp)


def _identity() -> HubIdentity | None:
    """Who this browser signs in to the hub as: the signed-in person, else the anonymous hub user this session
    launched as (anonymous launches on), else nobody."""
    settings = services().settings
    who = principal()
    if who.user_id is not None:
        require_scope(who, "launch")  # a personal access token signs in to the hub only with the launch scope
        user = services().users.get(who.user_id)
        return HubIdentity(
            hub_username(user.id, settings.launch_user_prefix), user.id, user.username, user.name, user.session_version
        )
    anon = session.get(ANON_SESSION)
    if settings.launch_anonymous and isinstance(anon, str) and ANON_NAME.match(anon):
        return HubIdentity(anon)
    return None


@bp.get("/oauth/authorize")
def authorize() -> Any:
    _provider()
    identity = _identity()
    if identity is None:
        return redirect("/signin?next=" + quote(request.full_path, safe=""))
    try:
        grant = _server().get_consent_grant(end_user=identity)
    except OAuth2Error as err:  # unknown client or redirect URI: never redirect anywhere, say what is wrong
        raise Invalid(
            N_("{err_error}: {description}"),
            err_error=err.error,
            description=err.description or "bad authorization request",
            field="client_id",
        ) from None
    # the hub is the portal's own first-party client: no consent page
    return _server().create_authorization_response(grant_user=identity, grant=grant)


@bp.post("/oauth/token")
@exempt  # called by the hub, server to server, authenticated by its client secret (Basic or in the form)
def token() -> Any:
    _provider()
    return _server().create_token_response()


@bp.get("/oauth/userinfo")
def userinfo() -> Any:
    provider = _provider()
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthorized(N_("send the access token as 'Authorization: Bearer <token>'"), field="token")
    return jsonify(provider.userinfo(credential.strip()))
