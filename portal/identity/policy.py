"""The permission policy, in one place: API routes, pages and the command line ask here.

Every refusal is a typed error: :class:`Unauthorized` (401) when nobody is signed in and a credential would
help, :class:`Forbidden` (403) naming the missing scope or role otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable

from portal.errors import Forbidden, Unauthorized
from portal.identity.principal import SCOPES, Principal


def require_scope(principal: Principal, scope: str) -> None:
    """Refuse unless ``principal`` may act with ``scope`` (one of :data:`SCOPES`)."""
    assert scope in SCOPES, scope
    if not principal.authenticated:
        raise Unauthorized(f"sign in or send a personal access token with the {scope!r} scope", field="scope")
    if scope not in principal.scopes:
        if principal.token_scopes is not None and scope not in principal.token_scopes:
            raise Forbidden(f"this token lacks the {scope!r} scope ({SCOPES[scope]})", field="scope")
        raise Forbidden(f"your account's roles do not grant the {scope!r} scope ({SCOPES[scope]})", field="scope")


def require_role(principal: Principal, role: str) -> None:
    if not principal.authenticated:
        raise Unauthorized(f"sign in as a user with the {role!r} role", field="role")
    if not principal.has_role(role):
        raise Forbidden(f"this needs the {role!r} role", field="role")


def may_edit(principal: Principal, owners: Iterable[int]) -> bool:
    """Owners edit their own drafts; curators (scope ``curate``) edit any."""
    return "curate" in principal.scopes or (principal.user_id is not None and principal.user_id in set(owners))


def require_edit(principal: Principal, owners: Iterable[int], *, what: str) -> None:
    require_scope(principal, "deposit:write")
    if not may_edit(principal, owners):
        raise Forbidden(f"only the owners of {what} or a curator may change it", field="owner")
