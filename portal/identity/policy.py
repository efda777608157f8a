"""The permission policy, in one place: API routes, pages and the command line ask here.

Every refusal is a typed error: :class:`Unauthorized` (401) when nobody is signed in and a credential would
help, :class:`Forbidden` (403) naming the missing scope or role otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from portal.catalog.access import AccessRights
from portal.errors import Forbidden, NotFound, Unauthorized
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


# ------------------------------------------------------------------ reading: access rights on records and files
# Kept apart from the write permissions above: these decide who may READ a record's metadata and its bytes.


def may_read_restricted(principal: Principal, group: str | None) -> bool:
    """Whether ``principal`` may read what a record restricts to ``group``: its members, curators and admins
    (scope ``curate``), and the server's command line."""
    if principal.via == "cli" or "curate" in principal.scopes:
        return True
    return principal.authenticated and group is not None and group in principal.groups


def can_read_record(principal: Principal, rights: AccessRights, now: datetime) -> bool:
    """Whether ``principal`` may see the record's metadata at ``now`` (only a restricted record hides it)."""
    return not rights.record_restricted(now) or may_read_restricted(principal, rights.group)


def can_read_files(principal: Principal, rights: AccessRights, now: datetime) -> bool:
    """Whether ``principal`` may read the record's bytes at ``now`` (downloads, packs, previews, analyses,
    launch filesets, file indices)."""
    if not can_read_record(principal, rights, now):
        return False
    return not rights.files_restricted(now) or may_read_restricted(principal, rights.group)


def require_read_record(principal: Principal, rights: AccessRights, now: datetime, *, recid: int) -> None:
    """Refuse with 404 (as if the record did not exist: its existence is not revealed) unless readable."""
    if not can_read_record(principal, rights, now):
        raise NotFound(f"there is no record {recid}", record=recid)


def require_read_files(principal: Principal, rights: AccessRights, now: datetime, *, recid: int) -> None:
    """Refuse unless ``principal`` may read the files: 404 when the record itself is hidden, 401 when nobody is
    signed in, 403 for a signed-in user outside the group."""
    require_read_record(principal, rights, now, recid=recid)
    if can_read_files(principal, rights, now):
        return
    _state, label = rights.state(now)
    if not principal.authenticated:
        raise Unauthorized(f"the files of record {recid} are not open ({label}): sign in", field="access")
    raise Forbidden(f"the files of record {recid} are not open to you ({label})", field="access")
