"""Reading rights: what a record's `access` says at a given moment, and who the policy lets read it."""

from datetime import UTC, date, datetime

import pytest

from portal.catalog.access import PUBLIC, AccessRights, rights_of
from portal.errors import Forbidden, NotFound, Unauthorized
from portal.identity.policy import can_read_files, can_read_record, require_read_files
from portal.identity.principal import ANONYMOUS, COMMAND_LINE, Principal

MEMBER = Principal(via="session", user_id=1, username="alice", groups=frozenset({"atlas-internal"}))
OUTSIDER = Principal(via="token", user_id=2, username="bob", token_scopes=frozenset({"launch"}))
CURATOR = Principal(via="session", user_id=3, username="carol", roles=frozenset({"curator"}))
CURATOR_TOKEN_WITHOUT_CURATE = Principal(
    via="token", user_id=3, username="carol", roles=frozenset({"curator"}), token_scopes=frozenset({"launch"})
)
BEFORE = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
ON_THE_DAY = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)

EMBARGOED = rights_of({"access": {"files": "restricted", "embargo": {"active": True, "until": "2027-01-01"}}})
RESTRICTED = rights_of({"access": {"record": "public", "files": "restricted", "group": "atlas-internal"}})
HIDDEN = rights_of({"access": {"record": "restricted", "files": "restricted", "group": "atlas-internal"}})


def test_records_without_access_rights_are_open_to_everyone():
    assert rights_of({"title": "a CERN record"}) == PUBLIC
    assert can_read_files(ANONYMOUS, PUBLIC, BEFORE) and can_read_record(ANONYMOUS, PUBLIC, BEFORE)
    assert PUBLIC.state(BEFORE) == ("open", "Open access")


def test_an_embargo_ends_on_its_day_utc():
    assert EMBARGOED.embargo_until == date(2027, 1, 1)
    assert not can_read_files(ANONYMOUS, EMBARGOED, BEFORE) and can_read_record(ANONYMOUS, EMBARGOED, BEFORE)
    assert can_read_files(ANONYMOUS, EMBARGOED, ON_THE_DAY)
    assert EMBARGOED.state(BEFORE) == ("embargoed", "Embargoed until 2027-01-01")
    assert EMBARGOED.state(ON_THE_DAY)[0] == "open"
    # an embargo closes the files until its day even when `files` says public; an inactive one is ignored
    assert rights_of({"access": {"embargo": {"active": True, "until": "2027-01-01"}}}).files_restricted(BEFORE)
    assert rights_of({"access": {"embargo": {"active": False, "until": "2027-01-01"}}}) == PUBLIC


def test_restricted_files_are_read_by_the_group_curators_and_the_command_line():
    for who in (MEMBER, CURATOR, COMMAND_LINE):
        assert can_read_files(who, RESTRICTED, BEFORE), who
    for who in (ANONYMOUS, OUTSIDER, CURATOR_TOKEN_WITHOUT_CURATE):
        assert not can_read_files(who, RESTRICTED, BEFORE), who
        assert can_read_record(who, RESTRICTED, BEFORE), who  # the metadata stays public
    assert RESTRICTED.state(BEFORE) == ("restricted", "Restricted to the group atlas-internal")


def test_refusals_say_401_to_anonymous_403_to_outsiders_404_for_a_hidden_record():
    with pytest.raises(Unauthorized, match="sign in"):
        require_read_files(ANONYMOUS, RESTRICTED, BEFORE, recid=5)
    with pytest.raises(Forbidden, match="not open to you") as err:
        require_read_files(OUTSIDER, RESTRICTED, BEFORE, recid=5)
    assert err.value.field == "access"
    for who in (ANONYMOUS, OUTSIDER):
        with pytest.raises(NotFound, match="there is no record 5"):
            require_read_files(who, HIDDEN, BEFORE, recid=5)
    require_read_files(MEMBER, HIDDEN, BEFORE, recid=5)


def test_an_unreadable_embargo_date_errs_on_the_closed_side():
    odd = rights_of({"access": {"files": "restricted", "embargo": {"active": True, "until": "soon"}}})
    assert odd.files_restricted(datetime(9999, 1, 1, tzinfo=UTC))
    assert AccessRights(files="restricted").state(BEFORE) == ("restricted", "Restricted to curators")
