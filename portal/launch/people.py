"""Whose session a launch is: the hub user (and, on one machine, the system user) of a person or a visitor."""

from __future__ import annotations

import re
import secrets

from portal.errors import Unauthorized
from portal.i18n import N_
from portal.identity.policy import require_scope
from portal.identity.principal import Principal

#: anonymous visitors' hub users: short-lived, culled when idle (their system user and home go with them)
ANON_PREFIX = "anon-"
ANON_NAME = re.compile(r"^anon-[0-9a-f]{12}$")


def hub_username(user_id: int, prefix: str) -> str:
    """The hub user of the portal user ``user_id``: derived from the id (stable across renames), never from a
    name the person chose, so it is always a valid hub and Unix user name."""
    return f"{prefix}{int(user_id)}"


def anonymous_username() -> str:
    return ANON_PREFIX + secrets.token_hex(6)


def launch_user(principal: Principal, *, prefix: str, anonymous_allowed: bool, anonymous_name: str | None) -> str:
    """The hub user ``principal`` launches as. A signed-in person (or a token with the ``launch`` scope) gets
    their own; an anonymous visitor gets ``anonymous_name`` (kept in their session) when anonymous launches are
    allowed, else 401."""
    if principal.user_id is not None:
        require_scope(principal, "launch")
        return hub_username(principal.user_id, prefix)
    if not anonymous_allowed:
        raise Unauthorized(N_("sign in to launch a session (anonymous launches are off here)"), field="launch")
    if anonymous_name is None or not ANON_NAME.match(anonymous_name):
        raise Unauthorized(N_("no anonymous session name"), field="launch")
    return anonymous_name
