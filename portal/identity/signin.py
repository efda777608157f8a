"""Signing in and up: the providers the settings offer, and what each sign-in does to accounts and the audit log.

The web layer calls one method per step (:meth:`SignIn.password`, :meth:`SignIn.begin`, :meth:`SignIn.complete`,
:meth:`SignIn.sign_up`, :meth:`SignIn.signed_out`) and keeps only the browser session itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from portal.errors import Forbidden, NotFound, PortalError
from portal.i18n import N_
from portal.identity.audit import AuditLog
from portal.identity.principal import ANONYMOUS, Principal
from portal.identity.providers import AuthorizationStart, LocalProvider, RedirectProvider
from portal.identity.users import UserInfo, UserService


@dataclass(frozen=True)
class ProviderChoice:
    """A button on the sign-in page."""

    name: str
    title: str


class SignIn:
    def __init__(
        self,
        users: UserService,
        audit: AuditLog,
        *,
        local: LocalProvider | None,
        redirect: Mapping[str, RedirectProvider],
        signup_open: bool,
    ) -> None:
        self.users = users
        self.audit = audit
        self.local = local
        self.redirect = dict(redirect)
        self.signup_open = signup_open and local is not None

    def choices(self) -> list[ProviderChoice]:
        return [ProviderChoice(p.name, p.title) for p in self.redirect.values()]

    def password(self, login: str, password: str, *, ip: str | None = None) -> UserInfo:
        """The local account these credentials open (audited either way)."""
        if self.local is None:
            raise Forbidden(N_("sign-in with a portal password is switched off here; use a provider"), field="username")
        return self.local.authenticate(login, password, ip=ip)

    def provider(self, name: str) -> RedirectProvider:
        found = self.redirect.get(name)
        if found is None:
            raise NotFound(N_("there is no sign-in provider {name!r}"), name=name, field="provider")
        return found

    def begin(self, name: str, redirect_uri: str) -> AuthorizationStart:
        return self.provider(name).begin(redirect_uri)

    def complete(
        self,
        name: str,
        pending: Mapping[str, str],
        params: Mapping[str, str],
        redirect_uri: str,
        *,
        ip: str | None = None,
    ) -> UserInfo:
        """The account of whoever the provider vouched for (created, or linked by verified email, on first sign-in).
        A refused sign-in is audited with its reason and raised again."""
        provider = self.provider(name)
        try:
            found = provider.complete(pending, params, redirect_uri)
            return self.users.from_provider(
                found.provider,
                found.subject,
                found.claims,
                ip=ip,
                link_verified_email=provider.link_verified_email,
            )
        except PortalError as err:
            detail: dict[str, Any] = {"method": name, "reason": err.detail[:200], "field": err.field}
            self.audit.add(ANONYMOUS, "signin.failed", f"provider {name}", detail, ip=ip)
            raise

    def sign_up(self, username: str, *, name: str, email: str | None, password: str, ip: str | None = None) -> UserInfo:
        if not self.signup_open:
            raise Forbidden(N_("sign-up is closed on this portal; ask an administrator for an account"), field="signup")
        return self.users.create(
            Principal(via="anonymous", username=username),
            username,
            name=name,
            email=email or None,
            password=password,
            action="signup",
        )

    def signed_out(self, principal: Principal, *, ip: str | None = None) -> None:
        if principal.user_id is not None:
            self.audit.add(principal, "signout", f"user {principal.username}", {}, ip=ip)
