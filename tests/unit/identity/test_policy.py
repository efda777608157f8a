"""The permission policy: who may do what, and the errors that say why not."""

import pytest

from portal.errors import Forbidden, QuotaExceeded, Unauthorized
from portal.identity.policy import (
    may_edit,
    require_edit,
    require_launch,
    require_manage_users,
    require_publish,
    require_publish_job,
    require_quota,
    require_role,
    require_run_analysis,
    require_scope,
)
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


ADMIN = Principal(via="session", user_id=9, username="root", roles=frozenset({"admin"}))


def test_curators_and_admins_publish_owners_do_not():
    require_publish(CURATOR)
    require_publish(ADMIN)  # an admin's roles grant what a curator's do
    with pytest.raises(Forbidden, match="'curator' role") as err:
        require_publish(ALICE)
    assert err.value.field == "role"
    narrow = Principal(
        via="token",
        user_id=2,
        username="carol",
        roles=frozenset({"curator"}),
        token_scopes=frozenset({"deposit:publish"}),
    )
    with pytest.raises(Forbidden, match="lacks the 'curate' scope"):
        require_publish(narrow)
    with pytest.raises(Unauthorized):
        require_publish(ANONYMOUS)


def test_analyses_jobs_and_launches():
    require_run_analysis(ALICE, own_code=False)
    with pytest.raises(Forbidden, match="'curator' role"):
        require_run_analysis(ALICE, own_code=True)
    require_run_analysis(CURATOR, own_code=True)
    require_publish_job(ALICE, 1)
    with pytest.raises(Forbidden, match="owner of this job"):
        require_publish_job(ALICE, 3)
    require_publish_job(CURATOR, 3)
    require_launch(ANONYMOUS, anonymous_allowed=True)
    with pytest.raises(Unauthorized):
        require_launch(ANONYMOUS, anonymous_allowed=False)
    require_launch(ALICE_TOKEN_READONLY, anonymous_allowed=False)
    with pytest.raises(Forbidden, match="'launch'"):
        require_launch(
            Principal(via="token", user_id=1, token_scopes=frozenset({"analyses:run"})), anonymous_allowed=True
        )


def test_admins_manage_users_and_quotas_name_their_setting():
    require_manage_users(ADMIN)
    with pytest.raises(Forbidden, match="'admin' role"):
        require_manage_users(CURATOR)
    require_quota("quota_jobs_per_user", 2, 3, what="jobs")
    require_quota("quota_jobs_per_user", 99, 0, what="jobs")  # 0: no limit
    with pytest.raises(QuotaExceeded) as err:
        require_quota("quota_jobs_per_user", 3, 3, what="jobs")
    assert err.value.status == 429 and err.value.field == "quota_jobs_per_user"
