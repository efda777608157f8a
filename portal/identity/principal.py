"""Who is asking: a signed-in user (browser session), a personal access token, the command line, or nobody."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from portal.i18n import N_

#: Scopes a personal access token may carry. A browser session (and the command line) has every scope its
#: user's roles allow; a token has only those it was created with, still within its user's roles. The help texts
#: are msgids (the tokens page translates them).
SCOPES: dict[str, str] = {
    "deposit:write": N_("create and edit drafts, upload files"),
    "deposit:publish": N_("publish drafts and new versions"),
    "analyses:run": N_("start and cancel analysis jobs"),
    "launch": N_("launch notebook sessions"),
    "curate": N_("review, edit and publish any record (curators)"),
    "admin": N_("manage users, roles, groups and tokens (admins)"),
}
ROLES: dict[str, str] = {
    "user": "everyone signed in: owns their drafts, runs analyses, launches sessions",
    "curator": "reviews and publishes into curated collections, edits any record",
    "admin": "manages users, roles and groups",
}
#: Which scopes each role grants (a user has the union over their roles).
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "user": frozenset({"deposit:write", "deposit:publish", "analyses:run", "launch"}),
    "curator": frozenset({"deposit:write", "deposit:publish", "analyses:run", "launch", "curate"}),
    "admin": frozenset(SCOPES),
}

Via = Literal["anonymous", "session", "token", "cli"]


@dataclass(frozen=True)
class Principal:
    """The identity a request (or a command) acts as, and what it may do."""

    via: Via
    user_id: int | None = None
    username: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)
    #: scopes the credential carries (a token's); None means every scope the roles grant
    token_scopes: frozenset[str] | None = None
    token_id: int | None = None

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None or self.via == "cli"

    @property
    def scopes(self) -> frozenset[str]:
        """What this principal may do: its roles' scopes, narrowed to the token's."""
        if self.via == "cli":
            return frozenset(SCOPES)
        if self.user_id is None:
            return frozenset()
        granted: frozenset[str] = frozenset().union(*(ROLE_SCOPES.get(r, frozenset()) for r in {"user", *self.roles}))
        return granted if self.token_scopes is None else granted & self.token_scopes

    def has_role(self, role: str) -> bool:
        return self.via == "cli" or role == "user" and self.authenticated or role in self.roles

    @property
    def label(self) -> str:
        """How the audit log names this principal."""
        return self.username or self.via


ANONYMOUS = Principal(via="anonymous")
#: The server's own command line (`portal ...` run by whoever holds the machine): every scope.
COMMAND_LINE = Principal(via="cli", username="cli")
