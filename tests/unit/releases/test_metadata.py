"""Record metadata from CITATION.cff (through cffconvert) and .zenodo.json; bad files name their field."""

from __future__ import annotations

import pytest

from portal.releases.metadata import record_metadata, zenodo_from_cff, zenodo_from_json
from portal.releases.outcomes import Refused

CFF = """cff-version: 1.2.0
message: Please cite it as below.
title: Dimuon spectrum fitter
version: 2.1.0
date-released: 2026-11-30
license: Apache-2.0
authors:
  - family-names: Doe
    given-names: Jane
    orcid: https://orcid.org/0000-0002-1825-0097
"""


def build(zenodo, source="CITATION.cff"):
    return record_metadata(
        zenodo,
        source=source,
        repository_url="https://github.com/a/fitter",
        tag="v2.1.0",
        release_name="",
        release_notes="notes",
    )


def test_citation_cff_becomes_a_software_record():
    md = build(zenodo_from_cff(CFF))
    assert md["title"] == "Dimuon spectrum fitter" and md["type"] == {"primary": "Software"}
    assert md["version"] == "2.1.0" and md["date_published"] == "2026-11-30"
    assert md["authors"] == [{"name": "Doe, Jane", "orcid": "0000-0002-1825-0097"}]
    assert md["license"] == {"attribution": "Apache-2.0"} and md["abstract"] == {"description": "notes"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("date-released: 2026-11-30", "date-released: soon"), "date-released"),
        (("title: Dimuon spectrum fitter\n", ""), "title"),
        (("authors:", "author:"), "author"),
        (("cff-version: 1.2.0", "cff-version: 9.9"), "cff-version"),
        (("  - family-names: Doe", "  - family-names: [Doe"), "CITATION.cff"),
    ],
)
def test_a_bad_citation_cff_names_its_field(change, field):
    with pytest.raises(Refused) as caught:
        zenodo_from_cff(CFF.replace(*change))
    assert caught.value.field == field and "CITATION.cff" in caught.value.reason


def test_zenodo_json_is_read_too_and_its_licence_checked():
    md = build(
        zenodo_from_json('{"title": "Fitter", "creators": [{"name": "Doe, J."}], "license": "MIT"}'), ".zenodo.json"
    )
    assert (
        md["authors"] == [{"name": "Doe, J."}] and md["license"] == {"attribution": "MIT"} and md["version"] == "v2.1.0"
    )
    with pytest.raises(Refused) as caught:
        build(zenodo_from_json('{"title": "Fitter", "license": "not a licence"}'), ".zenodo.json")
    assert caught.value.field == ".zenodo.json:license"
    with pytest.raises(Refused):
        zenodo_from_json("[1, 2]")
