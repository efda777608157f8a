"""A real OpenID Connect provider on loopback for the sign-in tests, built from Authlib's server parts.

It is Authlib's own authorization server (``authlib.integrations.flask_oauth2.AuthorizationServer``) with the
authorization-code grant, PKCE (``rfc7636.CodeChallenge``) and OpenID Connect (``oidc.core.grants.OpenIDCode``,
nonce required), signing ID tokens with an RSA key it publishes at its ``jwks_uri``; a small Flask app served by
werkzeug on 127.0.0.1:<free port> in a thread. Only the storage (dicts) and the login form are ours.

Knobs a test turns to make it misbehave the way real providers can go wrong:
    ``clock_skew``: seconds added to the provider's clock (codes live ``CODE_LIFETIME`` seconds: expire them);
    ``backdate_codes``: seconds by which new codes are already old (an answer that took too long to come back);
    ``tamper_nonce``: put another nonce in the next ID tokens (a replayed or forged ID token);
``authorize_requests`` keeps the query of every authorization request, so a test can check what the portal sent.
"""

from __future__ import annotations

import hmac
import secrets
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Error, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify, request
from joserfc.jwk import RSAKey
from markupsafe import escape

from tests.support.live import live_server

CODE_LIFETIME = 60  # seconds, as short-lived as real providers make them


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)
    scope: str = "openid email profile"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in self.scope.split())

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: dict[str, Any]
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    issued_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.issued_at)


class TestProvider:
    """The provider's state: its users (``sub`` -> claims), clients, codes and signing key."""

    __test__ = False  # not a pytest test class

    def __init__(self, users: dict[str, dict[str, Any]]) -> None:
        self.users = users
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, Code] = {}
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-op", "use": "sig", "alg": "RS256"})
        self.clock_skew = 0.0
        self.backdate_codes = 0.0
        self.tamper_nonce = False
        self.authorize_requests: list[dict[str, str]] = []
        self.tokens: dict[str, dict[str, Any]] = {}  # access token -> user, for the user-info endpoint
        self.issuer = ""  # set when served

    def now(self) -> float:
        return time.time() + self.clock_skew

    def add_client(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> Client:
        self.clients[client_id] = client = Client(client_id, client_secret, list(redirect_uris))
        return client

    def app(self) -> Flask:
        op = self
        app = Flask("test-oidc-provider")
        app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": 300}

        class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code: str, req: Any) -> None:
                data = req.payload.data
                op.codes[code] = Code(
                    code,
                    req.client.client_id,
                    req.payload.redirect_uri,
                    req.scope,
                    req.user,
                    data.get("nonce"),
                    data.get("code_challenge"),
                    data.get("code_challenge_method"),
                    op.now() - op.backdate_codes,
                )

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                item = op.codes.get(code)
                if item is None or item.client_id != client.client_id:
                    return None
                if op.now() - item.issued_at > CODE_LIFETIME:
                    return None  # expired: the token endpoint answers invalid_grant
                return item

            def delete_authorization_code(self, item: Code) -> None:
                op.codes.pop(item.code, None)

            def authenticate_user(self, item: Code) -> dict[str, Any]:
                return item.user

        class OIDC(OpenIDCode):  # type: ignore[misc]
            def exists_nonce(self, nonce: str, req: Any) -> bool:
                return any(c.nonce == nonce and c.client_id == req.payload.client_id for c in op.codes.values())

            def resolve_client_private_key(self, client: Client) -> RSAKey:
                return op.key

            def get_client_claims(self, client: Client) -> dict[str, Any]:
                return {"iss": op.issuer, "aud": [client.client_id]}

            def get_encode_header(self, client: Client) -> dict[str, str]:
                return {"alg": "RS256", "kid": "test-op"}

            def get_authorization_code_claims(self, item: Code) -> dict[str, Any]:
                claims: dict[str, Any] = super().get_authorization_code_claims(item)
                if op.tamper_nonce:
                    claims["nonce"] = "not-the-nonce-the-client-sent"
                return claims

            def generate_user_info(self, user: dict[str, Any], scope: str) -> UserInfo:
                info = UserInfo(sub=user["sub"])
                for claim in ("name", "preferred_username", "email", "email_verified", "orcid"):
                    if claim in user:
                        info[claim] = user[claim]
                return info

        def save_token(token: dict[str, Any], req: Any) -> None:
            op.tokens[token["access_token"]] = req.user

        server = AuthorizationServer(app, query_client=self.clients.get, save_token=save_token)
        server.register_grant(CodeGrant, [OIDC(require_nonce=True), CodeChallenge(required=True)])

        @app.get("/.well-known/openid-configuration")
        def metadata() -> Any:
            return jsonify(
                issuer=op.issuer,
                authorization_endpoint=op.issuer + "/authorize",
                token_endpoint=op.issuer + "/token",
                jwks_uri=op.issuer + "/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                code_challenge_methods_supported=["S256"],
                token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
                scopes_supported=["openid", "email", "profile"],
            )

        @app.get("/jwks")
        def jwks() -> Any:
            return jsonify(keys=[op.key.as_dict(private=False)])

        @app.route("/authorize", methods=["GET", "POST"])
        def authorize() -> Any:
            user = op.users.get(request.form.get("sub", "")) if request.method == "POST" else None
            try:  # refuses a bad client, redirect URI, scope, nonce or PKCE challenge
                grant = server.get_consent_grant(end_user=user)
            except OAuth2Error as err:
                return f"{err.error}: {err.description}", 400
            if request.method == "GET":
                op.authorize_requests.append(dict(request.args))
                options = "".join(
                    f'<button type="submit" name="sub" value="{escape(sub)}">Sign in as {escape(u["name"])}</button>'
                    for sub, u in op.users.items()
                )
                return f"<!doctype html><title>Test OP</title><h1>Test OP: {escape(grant.client.client_id)}</h1>" + (
                    f'<form method="post">{options}</form>'
                )
            # an unknown subject is the person saying no: the client gets error=access_denied
            return server.create_authorization_response(grant_user=user, grant=grant)

        @app.get("/user")
        def github_style_user() -> Any:
            """Who the access token belongs to, shaped as GitHub's user API answers (for OAuth2 without ID tokens)."""
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            user = op.tokens.get(value) if scheme.lower() == "bearer" else None
            if user is None:
                return jsonify(message="Bad credentials"), 401
            login = user.get("preferred_username", user["sub"])
            return jsonify(id=zlib.crc32(user["sub"].encode()), login=login, name=user["name"], email=user.get("email"))

        @app.post("/token")
        def token() -> Any:
            return server.create_token_response()

        return app


@contextmanager
def oidc_provider(users: dict[str, dict[str, Any]]) -> Iterator[TestProvider]:
    """A provider serving ``users`` (``sub`` -> claims including ``name``) on 127.0.0.1:<free port>."""
    op = TestProvider(users)
    with live_server(op.app()) as url:
        op.issuer = url
        yield op


def new_secret() -> str:
    return secrets.token_urlsafe(24)
