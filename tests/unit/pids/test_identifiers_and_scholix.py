"""Citing works' identifiers (DOI, arXiv, INSPIRE) checked and normalised, Scholix links read both ways, and the
DataCite provider's reading of DataCite's refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.citations.identifiers import check_relation, parse_work_id
from portal.citations.scholix import Link, read_links
from portal.errors import Invalid, Unavailable
from portal.pids.registrations import BACKOFF_BASE, BACKOFF_MAX, backoff


@pytest.mark.parametrize(
    ("text", "scheme", "value"),
    [
        ("10.1103/PhysRevD.99.012345", "doi", "10.1103/physrevd.99.012345"),
        ("https://doi.org/10.1103/X", "doi", "10.1103/x"),
        ("arXiv:2101.01234v2", "arxiv", "2101.01234v2"),
        ("https://arxiv.org/abs/hep-ex/0101001", "arxiv", "hep-ex/0101001"),
        ("2101.01234", "arxiv", "2101.01234"),
        ("1234567", "inspire", "1234567"),
        ("https://inspirehep.net/literature/1234567", "inspire", "1234567"),
    ],
)
def test_identifiers_are_recognised_and_normalised(text, scheme, value):
    work = parse_work_id(text)
    assert (work.scheme, work.value) == (scheme, value)


@pytest.mark.parametrize(
    ("text", "scheme"), [("", None), ("hello", None), ("10.1234/x", "arxiv"), ("12345678901", None)]
)
def test_bad_identifiers_name_the_field(text, scheme):
    with pytest.raises(Invalid) as err:
        parse_work_id(text, scheme, field="Source.Identifier")
    assert err.value.field == "Source.Identifier"


def test_an_unknown_scheme_and_relation_are_refused_by_name():
    with pytest.raises(Invalid) as err:
        parse_work_id("10.1234/x", "pmid")
    assert err.value.field == "scheme"
    assert check_relation("IsCitedBy") == "isCitedBy"
    with pytest.raises(Invalid) as err:
        check_relation("cites")
    assert err.value.field == "relation"


def test_datacite_export_forms():
    assert parse_work_id("arXiv:2101.01234").datacite == ("arXiv", "arXiv:2101.01234")
    assert parse_work_id("7").datacite == ("URL", "https://inspirehep.net/literature/7")
    assert parse_work_id("10.1234/X").datacite == ("DOI", "10.1234/x")


def _side(ident, scheme="doi"):
    return {"Identifier": [{"ID": ident, "IDScheme": scheme}]}


def test_scholix_links_read_from_either_side():
    links = list(
        read_links(
            [
                {
                    "RelationshipType": {"Name": "References"},
                    "Source": _side("10.1234/paper"),
                    "Target": _side("10.5072/a"),
                },
                {
                    "RelationshipType": {"Name": "IsRelatedTo", "SubType": "IsCitedBy"},
                    "Source": _side("10.5072/a"),
                    "Target": _side("2101.01234", "arxiv"),
                },
                {
                    "RelationshipType": {"Name": "IsSupplementedBy"},
                    "Source": _side("10.1234/p"),
                    "Target": _side("10.5072/b"),
                },
                {
                    "RelationshipType": {"Name": "IsRelatedTo"},
                    "Source": _side("10.1234/p"),
                    "Target": _side("10.5072/b"),
                },
                {
                    "RelationshipType": {"Name": "References"},
                    "Source": _side("x", "pmid"),
                    "Target": _side("10.5072/b"),
                },
                "nonsense",
            ]
        )
    )
    first, second, third = links[:3]
    assert isinstance(first, Link) and first.relation == "isReferencedBy" and first.work.value == "10.1234/paper"
    assert first.record_ids[0].value == "10.5072/a"
    assert isinstance(second, Link) and second.relation == "isCitedBy" and second.work.scheme == "arxiv"
    assert isinstance(third, Link) and third.relation == "isSupplementTo" and third.record_ids[0].value == "10.5072/b"
    refused = links[3:]
    assert all(isinstance(r, Invalid) for r in refused)
    assert [r.source for r in refused] == ["link 4", "link 5", "link 6"]  # type: ignore[union-attr]
    assert [r.field for r in refused] == ["RelationshipType", "Source.Identifier", "link"]  # type: ignore[union-attr]


def test_a_document_without_links_is_refused():
    with pytest.raises(Invalid) as err:
        list(read_links({"hello": 1}))
    assert err.value.field == "file"


def test_backoff_doubles_up_to_its_maximum():
    assert backoff(1) == BACKOFF_BASE and backoff(2) == 2 * BACKOFF_BASE
    assert backoff(50) == BACKOFF_MAX and backoff(3) < timedelta(hours=1)


def test_datacite_refusals_name_the_attribute_and_outages_are_retried():
    from datacite.errors import DataCiteError, DataCiteServerError, DataCiteUnauthorizedError, HttpError

    from portal.pids.datacite import _portal_error

    refused = _portal_error(
        DataCiteError.factory(422, '{"errors":[{"source":"url","title":"URL is not allowed"}]}'), "10.5072/x"
    )
    assert isinstance(refused, Invalid) and refused.field == "url" and "URL is not allowed" in refused.detail
    assert isinstance(_portal_error(DataCiteServerError("boom"), "10.5072/x"), Unavailable)
    assert isinstance(_portal_error(HttpError("refused"), "10.5072/x"), Unavailable)
    assert isinstance(_portal_error(DataCiteUnauthorizedError("no"), "10.5072/x"), Unavailable)


def test_the_datacite_provider_needs_its_credentials_and_keeps_its_password_out_of_its_repr():
    from portal.pids.datacite import DataCitePIDProvider
    from portal.settings import load_settings

    with pytest.raises(Invalid) as err:
        DataCitePIDProvider.from_settings(load_settings({"datacite_username": "CERN.X"}, environ={}))
    assert err.value.field == "PORTAL_DATACITE_PASSWORD"
    provider = DataCitePIDProvider.from_settings(
        load_settings({"datacite_username": "CERN.X", "datacite_password": "s3cret"}, environ={})
    )
    assert "s3cret" not in repr(provider) and provider.mint(7) == "10.5072/portal.7"
