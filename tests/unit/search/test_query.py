"""The query language: each construct, and malformed queries with messages that say where."""

import re

import pytest

from portal.errors import Invalid
from portal.search.query import And, Exact, Not, Or, Range, Text, parse


@pytest.mark.parametrize(
    ("query", "ast"),
    [
        ("muon", Text("muon")),
        ("dimuon spectrum", And((Text("dimuon"), Text("spectrum")))),
        ('"dimuon spectrum"', Text("dimuon spectrum", phrase=True)),
        ("title:Higgs", Text("Higgs", field="title")),
        ('title:"Z boson"', Text("Z boson", phrase=True, field="title")),
        ("author:Doe", Text("Doe", field="author")),
        ("experiment:CMS", Exact("experiment", "CMS")),
        ("type:Dataset", Exact("type", "Dataset")),
        ('doi:"10.5072/portal.1"', Exact("doi", "10.5072/portal.1")),
        ("recid:90004", Exact("recid", "90004")),
        ("format:root", Exact("format", "root")),
        ("keywords:education", Text("education", field="keywords")),
        ("-simulated", Not(Text("simulated"))),
        ("NOT simulated", Not(Text("simulated"))),
        ("muon OR electron", Or((Text("muon"), Text("electron")))),
        ("(muon OR electron) pt", And((Or((Text("muon"), Text("electron"))), Text("pt")))),
        ("year:[2010 TO 2012]", Range("year", 2010, 2012)),
        ("year:{2010 TO 2012}", Range("year", 2010, 2012, False, False)),
        ("year:[2010 TO *]", Range("year", 2010, None)),
        ("number_events:>1000000", Range("number_events", 1_000_000, None, include_low=False)),
        ("number_events:<=5", Range("number_events", None, 5)),
        ("year:2011", Range("year", 2011, 2011)),
        ("muon AND pt", And((Text("muon"), Text("pt")))),
        ("", None),
    ],
)
def test_constructs(query, ast):
    assert parse(query) == ast


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("(muon", "never closed"),
        ("muon)", "no matching ("),
        ('"open quote', "unclosed quote"),
        ("colour:red", "unknown field 'colour'"),
        ("year:[2010 TO", "not closed"),
        ("year:[2010 2012]", "bad range"),
        ("title:", "needs a value"),
        ("OR muon", "empty expression"),
        ("muon OR", "needs something after it"),
        ("year:abc", "needs a number"),
        ("experiment:>3", "not a numeric field"),
        ("title:[a TO b]", "not a numeric field"),
        ("-", "needs something to negate"),
        ("x" * 1001, "longer than 1000"),
    ],
)
def test_malformed(query, message):
    with pytest.raises(Invalid, match=re.escape(message)) as info:
        parse(query)
    assert info.value.field == "q"
