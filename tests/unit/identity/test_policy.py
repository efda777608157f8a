"""The permission policy: who may do what, and the errors that say why not."""

import pytest

from portal.errors import Forbidden, Unauthorized
from portal.identity.policy import may_edit, require_edit, require_role, require_scope
from portal.identity.principal import ANONYMOUS, COMMAND_LINE, Principal

ALICE = Principal(via="session", user_id=1, username="alice")
CURATOR = Principal(via="session", user_id=2, username="carol", roles=frozenset({"curator"}))
ALICE_TOKEN_READONLY = Principal(via="token", user_id=1, username="alice", token_scopes=frozenset({"launch"}))


def test_anonymous_is_asked_to_sign_in_naming_the_scope():
    with pytest.raises(Unauthorized, match="'analyses:run' scope"):
        require_scope(ANONYMOUS, "analyses:run")


def test_a_token_without_the_scope_is_refused_naming_it():
    require_scope(ALICE_TOKEN_READONLY, "launch")
    with pytest.raises(Forbidden, match="this token lacks the 'analyses:run' scope"):
        require_scope(ALICE_TOKEN_READONLY, "analyses:run")


def test_a_token_never_carries_more_than_its_owners_roles():
    overreaching = Principal(via="token", user_id=1, username="alice", token_scopes=frozenset({"admin", "launch"}))
    assert "admin" not in overreaching.scopes
    with pytest.raises(Forbidden, match="roles do not grant the 'admin' scope"):
        require_scope(overreaching, "admin")


def test_roles_and_the_command_line():
    with pytest.raises(Forbidden, match="'curator' role"):
        require_role(ALICE, "curator")
    require_role(CURATOR, "curator")
    require_role(ALICE, "user")
    require_scope(COMMAND_LINE, "admin")
    with pytest.raises(Unauthorized):
        require_role(ANONYMOUS, "user")


def test_owners_and_curators_edit_drafts():
    assert may_edit(ALICE, [1]) and not may_edit(ALICE, [3]) and may_edit(CURATOR, [3])
    with pytest.raises(Forbidden, match="only the owners of draft 7"):
        require_edit(ALICE, [3], what="draft 7")
    with pytest.raises(Unauthorized):
        require_edit(ANONYMOUS, [3], what="draft 7")
