"""The identity-provider seam: how a person proves who they are.

Two kinds of provider are registered in the ``portal.identity_providers`` entry-point group:

* ``local`` (:class:`LocalProvider`): a user name (or email) and a password checked against the argon2 hash of a
  local account (:meth:`portal.identity.users.UserService.authenticate`);
* ``oidc`` (:class:`portal.identity.oidc.OIDCProvider`): a redirect to an OpenID Connect issuer (or an OAuth2
  provider with a user-info endpoint, GitHub-style) and back, with the authorization-code flow, PKCE, state and
  nonce.

Which providers are offered comes from settings (``signin_local``, ``oidc_providers``); :func:`parse_oidc_providers`
reads the latter. Redirect providers keep nothing between the two legs of the flow: :meth:`RedirectProvider.begin`
returns what the caller must keep (in the browser session) and hand back to :meth:`RedirectProvider.complete`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from portal.errors import Invalid, Unauthorized
from portal.i18n import N_
from portal.identity.users import UserInfo, UserService

SETTING = "PORTAL_OIDC_PROVIDERS"


@dataclass(frozen=True)
class AuthorizationStart:
    """Where to send the browser, and what to keep until it comes back (state, nonce, PKCE verifier)."""

    url: str
    pending: dict[str, str]


@dataclass(frozen=True)
class ExternalSignIn:
    """A person the provider vouched for: its stable subject and the claims it sent (name, email, ...)."""

    provider: str
    subject: str
    claims: dict[str, Any] = field(default_factory=dict)


class RedirectProvider(Protocol):
    """A provider the browser is sent to (OpenID Connect). ``name`` is its key in settings and URLs."""

    kind: ClassVar[str]  # "redirect"
    name: str
    title: str
    #: link a first sign-in to the existing account holding the same email, when the provider says it is verified
    link_verified_email: bool

    def begin(self, redirect_uri: str) -> AuthorizationStart:
        """The authorization URL (with fresh state, nonce and PKCE challenge) and what to keep for :meth:`complete`."""
        ...

    def complete(self, pending: Mapping[str, str], params: Mapping[str, str], redirect_uri: str) -> ExternalSignIn:
        """Check the callback's ``params`` against ``pending`` (state), exchange the code (PKCE verifier) and
        validate the ID token (issuer, audience, expiry, signature, nonce). Raises :class:`Invalid` for a callback
        that does not belong to this browser's sign-in, :class:`Unauthorized` when the provider refused or sent
        something that does not validate, :class:`portal.errors.Unavailable` when it cannot be reached."""
        ...


class LocalProvider:
    """Local accounts: user name (or email) and password, argon2id hashes in the users table."""

    kind: ClassVar[str] = "password"
    name = "local"
    title = "Portal account"

    def __init__(self, users: UserService) -> None:
        self.users = users

    @classmethod
    def from_settings(cls, settings: Any, *, users: UserService, **_: Any) -> LocalProvider:
        return cls(users)

    def authenticate(self, login: str, password: str, *, ip: str | None = None) -> UserInfo:
        if not (login or "").strip():
            raise Invalid(N_("enter your user name or email"), field="username")
        if not password:
            raise Unauthorized(N_("wrong user name or password"), field="password")
        return self.users.authenticate(login, password, ip=ip)


def parse_oidc_providers(text: str) -> dict[str, dict[str, Any]]:
    """``oidc_providers`` as ``{name: config}``; :class:`Invalid` naming the setting for anything malformed."""
    text = (text or "").strip()
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Invalid(N_("not valid JSON: {exc}"), exc=exc, field=SETTING) from None
    if not isinstance(parsed, dict) or not all(isinstance(v, dict) for v in parsed.values()):
        raise Invalid(N_('expected a JSON object {"<name>": {...provider settings...}}'), field=SETTING)
    for name in parsed:
        if not name or not name.replace("-", "").replace("_", "").isalnum() or name != name.lower():
            raise Invalid(
                N_("provider name {name!r}: use lower-case letters, digits, '-' or '_'"), name=name, field=SETTING
            )
    return parsed
