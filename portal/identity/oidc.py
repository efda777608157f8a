"""Sign-in through OpenID Connect (CERN SSO, ORCID, any issuer) and GitHub-style OAuth2, with Authlib.

The authorization-code flow with PKCE (S256): :meth:`OIDCProvider.begin` makes a fresh ``state``, ``nonce`` and
code verifier; :meth:`OIDCProvider.complete` checks the state, exchanges the code with the verifier, and
validates the ID token with Authlib's :class:`authlib.oidc.core.CodeIDToken` (signature against the issuer's
JWKS, ``iss``, ``aud``, ``exp``, ``iat``, ``nonce``, ``at_hash``), as Authlib's own web clients do. Providers
without ID tokens (GitHub) are read through their user-info endpoint instead.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from portal.errors import Invalid, Unauthorized, Unavailable
from portal.i18n import N_
from portal.identity.providers import SETTING, AuthorizationStart, ExternalSignIn

#: Known providers: what a site sets is its client id and secret (and, for CERN, perhaps another realm).
PRESETS: dict[str, dict[str, Any]] = {
    "cern": {"title": "CERN SSO", "issuer": "https://auth.cern.ch/auth/realms/cern", "scope": "openid email profile"},
    # ORCID's OpenID Connect: the subject is the person's ORCID iD; it sends no email
    "orcid": {"title": "ORCID", "issuer": "https://orcid.org", "scope": "openid", "orcid_from_sub": True},
    # GitHub is OAuth2 without ID tokens: who signed in comes from its user API
    "github": {
        "title": "GitHub",
        "authorize_url": "https://github.com/login/oauth/authorize",
        "token_url": "https://github.com/login/oauth/access_token",
        "userinfo_url": "https://api.github.com/user",
        "scope": "read:user user:email",
        "claims": {"sub": "id", "preferred_username": "login"},
        "link_verified_email": False,
    },
}
KNOWN_KEYS = {
    "preset",
    "type",
    "title",
    "issuer",
    "client_id",
    "client_secret",
    "scope",
    "authorize_url",
    "token_url",
    "userinfo_url",
    "claims",
    "orcid_from_sub",
    "link_verified_email",
    "timeout",
}
LEEWAY = 120  # seconds of clock difference tolerated on iat/exp, as Authlib's clients do


class OIDCProvider:
    """One configured OpenID Connect issuer (or OAuth2 provider with a user-info endpoint)."""

    kind: ClassVar[str] = "redirect"

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        unknown = set(config) - KNOWN_KEYS
        if unknown:
            raise Invalid(
                N_("provider {name!r}: unknown key(s) {unknown}"),
                name=name,
                unknown=", ".join(sorted(unknown)),
                field=SETTING,
            )
        preset_name = config.get("preset")
        if preset_name is not None and preset_name not in PRESETS:
            raise Invalid(
                N_("provider {name!r}: unknown preset {preset_name!r}; known: {presets}"),
                name=name,
                preset_name=preset_name,
                presets=", ".join(PRESETS),
                field=SETTING,
            )
        merged = {**PRESETS.get(str(preset_name), {}), **config}
        for required in ("client_id", "client_secret"):
            if not merged.get(required):
                raise Invalid(N_("provider {name!r} needs {required!r}"), name=name, required=required, field=SETTING)
        self.name = name
        self.title = str(merged.get("title") or name)
        self.client_id = str(merged["client_id"])
        self._client_secret = str(merged["client_secret"])  # never logged, never shown
        self.issuer = str(merged.get("issuer") or "").rstrip("/")
        self.scope = str(merged.get("scope") or "openid email profile")
        self.claims_map: dict[str, str] = dict(merged.get("claims") or {})
        self.orcid_from_sub = bool(merged.get("orcid_from_sub", False))
        self.link_verified_email = bool(merged.get("link_verified_email", True))
        self.timeout = float(merged.get("timeout", 10))
        self.openid = bool(self.issuer)
        if not self.openid:
            for required in ("authorize_url", "token_url", "userinfo_url"):
                if not merged.get(required):
                    raise Invalid(
                        N_("provider {name!r} needs 'issuer' (OpenID Connect) or {required!r}"),
                        name=name,
                        required=required,
                        field=SETTING,
                    )
        self._static = {
            "authorization_endpoint": merged.get("authorize_url"),
            "token_endpoint": merged.get("token_url"),
            "userinfo_endpoint": merged.get("userinfo_url"),
        }
        self._metadata: dict[str, Any] | None = None
        self._jwks: dict[str, Any] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any, *, key: str, config: Mapping[str, Any], **_: Any) -> OIDCProvider:
        """The provider ``key`` of the ``oidc_providers`` setting, from its ``config`` there."""
        return cls(key, config)

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"OIDCProvider(name={self.name!r}, issuer={self.issuer!r}, client_id={self.client_id!r})"

    # -- the issuer's published configuration -----------------------------------------------------------------
    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = requests.get(url, timeout=self.timeout, headers={"Accept": "application/json"})
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise Unavailable(
                N_("{title} cannot be reached ({url}): {exc}"), title=self.title, url=url, exc=exc, field="provider"
            ) from None
        if not isinstance(data, dict):
            raise Unavailable(
                N_("{title} answered {url} with something other than a JSON object"),
                title=self.title,
                url=url,
                field="provider",
            )
        return data

    def metadata(self) -> dict[str, Any]:
        """The issuer's discovery document (fetched once), or the configured endpoints of an OAuth2 provider."""
        if not self.openid:
            return self._static
        with self._lock:
            if self._metadata is None:
                found = self._get_json(self.issuer + "/.well-known/openid-configuration")
                if str(found.get("issuer", "")).rstrip("/") != self.issuer:
                    raise Unavailable(
                        N_("{title}: the discovery document names issuer {found_get_issuer!r}, not {issuer!r}"),
                        title=self.title,
                        found_get_issuer=found.get("issuer"),
                        issuer=self.issuer,
                        field="issuer",
                    )
                self._metadata = found
            return self._metadata

    def _key_set(self, *, refresh: bool = False) -> KeySet:
        """The issuer's signing keys (fetched once; again when a token names a key we do not have)."""
        jwks = None if refresh else self._jwks
        if jwks is None:
            jwks = self._jwks = self._get_json(str(self.metadata()["jwks_uri"]))
        return KeySet.import_key_set(jwks)  # type: ignore[arg-type]

    def _session(self, redirect_uri: str) -> OAuth2Session:
        return OAuth2Session(
            self.client_id,
            self._client_secret,
            scope=self.scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )

    # -- the two legs of the flow ----------------------------------------------------------------------------
    def begin(self, redirect_uri: str) -> AuthorizationStart:
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), generate_token(64)
        extra = {"nonce": nonce} if self.openid else {}
        with self._session(redirect_uri) as client:
            url, _state = client.create_authorization_url(
                self.metadata()["authorization_endpoint"], state=state, code_verifier=verifier, **extra
            )
        return AuthorizationStart(
            url, {"provider": self.name, "state": state, "nonce": nonce, "code_verifier": verifier}
        )

    def complete(self, pending: Mapping[str, str], params: Mapping[str, str], redirect_uri: str) -> ExternalSignIn:
        if params.get("error"):
            reason = params.get("error_description") or "no reason given"
            raise Unauthorized(
                N_("{title} did not sign you in ({error}: {reason})"),
                title=self.title,
                error=params["error"],
                reason=reason,
                field="error",
            )
        expected = pending.get("state", "") if pending.get("provider") == self.name else ""
        if not expected or not hmac.compare_digest(str(params.get("state", "")), expected):
            raise Invalid(
                N_("this sign-in answer does not match the sign-in this browser started (state); start again"),
                field="state",
            )
        code = params.get("code", "")
        if not code:
            raise Invalid(N_("{title} sent no authorization code"), title=self.title, field="code")
        metadata = self.metadata()
        try:
            with self._session(redirect_uri) as client:
                token = client.fetch_token(
                    metadata["token_endpoint"],
                    code=code,
                    code_verifier=pending["code_verifier"],
                    grant_type="authorization_code",
                    timeout=self.timeout,
                    headers={"Accept": "application/json"},
                )
        except AuthlibBaseError as exc:  # the token endpoint said no (OAuthError, OAuth2Error)
            raise Unauthorized(
                N_(
                    "{title} refused the sign-in code ({error}: "
                    "{description}); it may have expired or been used "
                    "already: sign in again"
                ),
                title=self.title,
                error=exc.error,
                description=exc.description or "no reason given",
                field="code",
            ) from None
        except requests.RequestException as exc:
            raise Unavailable(
                N_("{title} cannot be reached to finish the sign-in: {exc}"),
                title=self.title,
                exc=exc,
                field="provider",
            ) from None
        claims = self._id_token_claims(token, pending.get("nonce", "")) if self.openid else self._userinfo(token)
        for claim, source in self.claims_map.items():
            if source in claims:
                claims[claim] = claims[source]
        subject = str(claims.get("sub") or "")
        if not subject:
            raise Unauthorized(N_("{title} did not say who signed in (no subject)"), title=self.title, field="sub")
        if self.orcid_from_sub:
            claims["orcid"] = subject.rsplit("/", 1)[-1]
        return ExternalSignIn(self.name, subject, claims)

    def _id_token_claims(self, token: Mapping[str, Any], nonce: str) -> dict[str, Any]:
        id_token = token.get("id_token")
        if not id_token:
            raise Unauthorized(
                N_("{title} sent no ID token (is 'openid' in the scope?)"), title=self.title, field="id_token"
            )
        metadata = self.metadata()
        registry = JWSRegistry(algorithms=metadata.get("id_token_signing_alg_values_supported") or ["RS256"])
        try:
            try:
                decoded = jwt.decode(id_token, self._key_set(), registry=registry)
            except JoseError:
                decoded = jwt.decode(id_token, self._key_set(refresh=True), registry=registry)  # keys rotated
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                {"iss": {"essential": True, "values": [self.issuer]}},
                {"nonce": nonce, "client_id": self.client_id, "access_token": token.get("access_token")},
            )
            claims.validate(leeway=LEEWAY)
        except JoseError as exc:
            field = getattr(exc, "claim", None) or "id_token"
            raise Unauthorized(
                N_("the ID token from {title} does not validate ({error}: {description}); sign in again"),
                title=self.title,
                error=exc.error,
                description=exc.description,
                field=str(field),
            ) from None
        return dict(claims)

    def _userinfo(self, token: Mapping[str, Any]) -> dict[str, Any]:
        try:
            response = requests.get(
                str(self.metadata()["userinfo_endpoint"]),
                headers={"Authorization": f"Bearer {token['access_token']}", "Accept": "application/json"},
                timeout=self.timeout,
            )
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError, KeyError) as exc:
            raise Unavailable(
                N_("{title}'s user-info endpoint failed: {exc}"), title=self.title, exc=exc, field="provider"
            ) from None
        if not isinstance(data, dict):
            raise Unauthorized(
                N_("{title}'s user-info answer is not a JSON object"), title=self.title, field="userinfo"
            )
        data.pop("email_verified", None)  # OAuth2 user APIs do not vouch for emails the way an ID token does
        return {k: v for k, v in data.items() if v is not None}
