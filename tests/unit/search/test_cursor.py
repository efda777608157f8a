"""The search-after cursor: opaque, URL-safe, and refused clearly when it is not one a search returned."""

import pytest

from portal.errors import Invalid
from portal.search.cursor import decode_cursor, encode_cursor


@pytest.mark.parametrize("keys", [[0.7856613099575043, 370], ["élan j/psi 11", 12], ["2020-01-01", 5]])
def test_a_cursor_gives_back_its_sort_keys(keys):
    cursor = encode_cursor(keys)
    assert cursor.isascii() and not set(cursor) & set("+/=&?#")
    assert decode_cursor(cursor, 2) == keys


@pytest.mark.parametrize("cursor", ["xyz", "", "!!!", encode_cursor([1, 2, 3]), encode_cursor({"a": 1})])
def test_anything_else_is_refused_naming_the_cursor(cursor):
    with pytest.raises(Invalid, match="start again without it") as err:
        decode_cursor(cursor, 2)
    assert err.value.field == "cursor"
