"""Accounts on SQLite and PostgreSQL: local passwords, provider sign-ins, tokens, roles, groups, the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.db.engine import Database
from portal.db.migrate import upgrade
from portal.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from portal.identity.audit import AuditLog
from portal.identity.models import User
from portal.identity.principal import COMMAND_LINE
from portal.identity.tokens import TokenService
from portal.identity.users import UserService, password_hasher


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def accounts(database_url):
    db = Database(database_url)
    upgrade(db.engine)
    clock = Clock()
    audit = AuditLog(db, now=clock)
    cheap = password_hasher(time_cost=1, memory_kib=32)  # as every portal of the suite (tests/conftest.py)
    yield UserService(db, audit, hasher=cheap, now=clock), TokenService(db, audit, now=clock), audit, clock
    db.dispose()


def test_local_accounts_sign_in_with_their_password_only(accounts):
    users, _tokens, audit, _clock = accounts
    alice = users.create(COMMAND_LINE, "alice", name="Alice A.", email="Alice@example.org", password="correct horse")
    assert alice.email == "alice@example.org" and alice.has_password and alice.roles == []
    assert users.authenticate("alice", "correct horse").id == alice.id
    assert users.authenticate("alice@example.org", "correct horse").id == alice.id
    for login, password in (("alice", "wrong password"), ("nobody", "correct horse")):
        with pytest.raises(Unauthorized, match="wrong user name or password"):
            users.authenticate(login, password)
    actions = [e.action for e in audit.entries()]
    assert actions[:4] == ["signin.failed", "signin.failed", "signin", "signin"]
    assert "user.create" in actions


def test_a_hash_of_another_cost_still_signs_in_and_is_redone_at_the_production_cost(accounts):
    users, _tokens, audit, clock = accounts
    users.create(COMMAND_LINE, "fay", password="a long password")  # at the suite's cheap cost
    production = UserService(users.db, audit, now=clock)  # the default hasher: the settings' defaults
    assert (production.hasher.time_cost, production.hasher.memory_cost) == (3, 65536)
    assert production.authenticate("fay", "a long password").username == "fay"
    with users.db.reader() as s:
        stored = s.scalar(select(User.password_hash).where(User.username == "fay"))
    assert stored is not None and stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert users.authenticate("fay", "a long password").username == "fay"  # verifies whatever the cost


def test_bad_account_input_is_refused_naming_the_field(accounts):
    users, *_ = accounts
    for kwargs, field in (
        ({"username": "A"}, "username"),
        ({"username": "bob", "password": "short"}, "password"),
        ({"username": "bob", "email": "not-an-email"}, "email"),
        ({"username": "bob", "roles": ["superuser"]}, "roles"),
        ({"username": "bob", "orcid": "1234"}, "orcid"),
    ):
        with pytest.raises(Invalid) as err:
            users.create(COMMAND_LINE, **kwargs)
        assert err.value.field == field
    users.create(COMMAND_LINE, "bob", email="bob@example.org")
    with pytest.raises(Conflict):
        users.create(COMMAND_LINE, "bob")
    assert users.count() == 1


def test_provider_sign_in_creates_then_finds_the_account(accounts):
    users, *_ = accounts
    users.create(COMMAND_LINE, "dana", email="dana@example.org")
    claims = {"preferred_username": "Dana", "email": "dana@example.org", "name": "Dana D."}
    first = users.from_provider("cern", "sub-1", claims)
    # the email is another account's: never linked silently, and the user name is made unique
    assert first.username == "dana2" and first.email is None and not first.has_password
    assert users.from_provider("cern", "sub-1", {}).id == first.id
    assert users.from_provider("orcid", "sub-1", {"name": "Other"}).id != first.id


def test_disabled_users_and_signed_out_sessions_lose_access(accounts):
    users, tokens, *_ = accounts
    erin = users.create(COMMAND_LINE, "erin", password="a long password")
    assert users.session_principal(erin.id, erin.session_version) is not None
    users.set_password(COMMAND_LINE, erin.id, "another long password")
    assert users.session_principal(erin.id, erin.session_version) is None
    _info, secret = tokens.create(COMMAND_LINE, erin.id, "ci", ["launch"])
    users.set_disabled(COMMAND_LINE, erin.id, True)
    with pytest.raises(Unauthorized, match="disabled"):
        tokens.authenticate(secret)
    with pytest.raises(Unauthorized):
        users.authenticate("erin", "another long password")


def test_tokens_are_hashed_scoped_expire_and_revoke_at_once(accounts):
    users, tokens, audit, clock = accounts
    frank = users.create(COMMAND_LINE, "frank", roles=["curator"])
    info, secret = tokens.create(COMMAND_LINE, frank.id, "laptop", ["analyses:run", "curate"], expires_in_days=7)
    assert secret.startswith("oep_") and info.prefix == secret[:10] and secret not in repr(info)
    principal = tokens.authenticate(secret)
    assert principal.username == "frank" and principal.scopes == {"analyses:run", "curate"}
    assert tokens.list(frank.id)[0].last_used_at == clock.now
    clock.now += timedelta(days=8)
    with pytest.raises(Unauthorized, match="expired on 2026-12-08"):
        tokens.authenticate(secret)
    _info2, other = tokens.create(COMMAND_LINE, frank.id, "ci", ["launch"], expires_in_days=None)
    tokens.authenticate(other)
    tokens.revoke(COMMAND_LINE, _info2.id)
    with pytest.raises(Unauthorized, match="revoked"):
        tokens.authenticate(other)
    with pytest.raises(Unauthorized, match="unknown token"):
        tokens.authenticate("oep_" + "x" * 43)
    assert [e.action for e in audit.entries(action="token.create")] == ["token.create", "token.create"]
    assert len(audit.entries(action="token.revoke")) == 1


def test_tokens_cannot_exceed_their_owners_roles(accounts):
    users, tokens, *_ = accounts
    gina = users.create(COMMAND_LINE, "gina")
    with pytest.raises(Invalid, match="do not grant admin"):
        tokens.create(COMMAND_LINE, gina.id, "x", ["admin"])
    with pytest.raises(Invalid, match="unknown scope"):
        tokens.create(COMMAND_LINE, gina.id, "x", ["everything"])
    other = users.create(COMMAND_LINE, "hank")
    with pytest.raises(Forbidden, match="only the user themselves or an admin"):  # signed in, so 403 not 401
        tokens.create(other.principal(), gina.id, "x", ["launch"])
    with pytest.raises(NotFound):
        tokens.revoke(other.principal(), tokens.create(gina.principal(), gina.id, "mine", ["launch"])[0].id)


def test_roles_and_groups_change_with_an_audit_trail(accounts):
    users, _tokens, audit, _clock = accounts
    ivy = users.create(COMMAND_LINE, "ivy")
    assert users.set_roles(COMMAND_LINE, ivy.id, ["curator", "user"]).roles == ["curator"]
    assert users.add_to_group(COMMAND_LINE, ivy.id, "cms-members").groups == ["cms-members"]
    assert users.add_to_group(COMMAND_LINE, ivy.id, "cms-members").groups == ["cms-members"]
    assert users.remove_from_group(COMMAND_LINE, ivy.id, "cms-members").groups == []
    roles = audit.entries(action="user.roles")[0]
    assert roles.detail == {"from": [], "to": ["curator"]} and roles.actor == "cli"
    assert [e.action for e in audit.entries()][:3] == ["group.remove", "group.add", "user.roles"]
