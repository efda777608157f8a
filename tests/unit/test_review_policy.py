"""Who curates a collection and who may decide its review requests: listed users, members of its curator group, and
nobody else (a site curator of other collections included); every refusal names its field."""

from __future__ import annotations

import pytest

from portal.errors import Forbidden, Unauthorized
from portal.identity import policy
from portal.identity.principal import ANONYMOUS, Principal
from portal.review.collections import CollectionInfo

CMS = CollectionInfo(1, "cms", "CMS", "", True, "teachers", ("ann",), frozenset({7}))


def user(user_id: int, *, groups: frozenset[str] = frozenset(), roles: frozenset[str] = frozenset()) -> Principal:
    return Principal(via="session", user_id=user_id, username=f"u{user_id}", groups=groups, roles=roles)


def test_curators_are_the_listed_users_and_the_group():
    assert CMS.is_curator(user(7))
    assert CMS.is_curator(user(8, groups=frozenset({"teachers"})))
    assert not CMS.is_curator(user(9, roles=frozenset({"curator"})))
    assert not CMS.is_curator(ANONYMOUS)


def test_deciding_needs_the_collection_and_the_scope():
    policy.require_review(user(7), is_curator=True, collection="cms")
    with pytest.raises(Forbidden) as refused:
        policy.require_review(user(9, roles=frozenset({"curator"})), is_curator=False, collection="cms")
    assert refused.value.field == "curator"
    token = Principal(via="token", user_id=7, username="ann", token_scopes=frozenset({"deposit:write"}))
    with pytest.raises(Forbidden) as narrow:
        policy.require_review(token, is_curator=True, collection="cms")
    assert narrow.value.field == "scope"
    with pytest.raises(Unauthorized):
        policy.require_review(ANONYMOUS, is_curator=False, collection="cms")


def test_submitting_and_cancelling_are_the_owners():
    policy.require_submit_review(user(7), 7, 100001)
    with pytest.raises(Forbidden) as other:
        policy.require_submit_review(user(8), 7, 100001)
    assert other.value.field == "owner"
    policy.require_cancel_review(user(7), 7)
    with pytest.raises(Forbidden):
        policy.require_cancel_review(user(8, roles=frozenset({"curator"})), 7)


def test_direct_publication_refusal_says_how_to_go_on():
    with pytest.raises(Forbidden) as refused:
        policy.require_publish_directly(user(7))
    assert refused.value.field == "role" and "collection" in refused.value.message
    policy.require_publish_directly(user(8, roles=frozenset({"curator"})))
