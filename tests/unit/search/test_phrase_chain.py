"""Reading PostgreSQL's printed phrase queries back into their words (for the word-pair lookup of phrases)."""

import pytest

from portal.search.backends.postgres import phrase_chain


@pytest.mark.parametrize(
    ("printed", "lexemes"),
    [
        ("'muon' <-> 'jet'", ["muon", "jet"]),
        ("'foo-bar' <-> 'foo' <-> 'bar' <-> 'baz'", ["foo-bar", "foo", "bar", "baz"]),
        ("'o''neil' <-> 'a\\\\b' <-> 'élan'", ["o'neil", "a\\b", "élan"]),
        ("'a' <-> ' <-> '", ["a", " <-> "]),
        ("'muon'", ["muon"]),
    ],
)
def test_a_chain_of_words_gives_its_words_in_order(printed, lexemes):
    assert phrase_chain(printed) == lexemes


@pytest.mark.parametrize(
    "printed", ["", "'a' & 'b'", "'a' <2> 'b'", "( 'a' | 'b' ) <-> 'c'", "'a':* <-> 'b'", "'a' <-> 'b", "!'a'"]
)
def test_anything_else_is_not_a_chain(printed):
    assert phrase_chain(printed) is None
