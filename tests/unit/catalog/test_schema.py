"""The record JSON schema: vocabulary in step, and errors that name the field."""

import pytest

from portal.catalog.schema import record_schema, validate_record, validation_errors
from portal.catalog.vocabulary import RELATION_TYPES, RESOURCE_TYPES, datacite_relation, inverse_relation
from portal.errors import Invalid


def minimal(**extra):
    return {
        "recid": "1",
        "title": "A dataset",
        "type": {"primary": "Dataset", "secondary": ["Derived"]},
        "date_published": "2024",
        **extra,
    }


def test_schema_enums_match_the_vocabulary():
    schema = record_schema()
    assert schema["properties"]["type"]["properties"]["primary"]["enum"] == list(RESOURCE_TYPES)
    assert schema["$defs"]["relation_type"]["enum"] == list(RELATION_TYPES)
    subtypes = {
        rule["if"]["properties"]["type"]["properties"]["primary"]["const"]: rule["then"]["properties"]["type"][
            "properties"
        ]["secondary"]["items"]["enum"]
        for rule in schema["allOf"]
    }
    assert subtypes == {t.primary: list(t.subtypes) for t in RESOURCE_TYPES.values()}


def test_minimal_record_is_valid():
    validate_record(minimal())


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"authors": [{"name": "A", "orcid": "1234"}]}, "authors[0].orcid"),
        ({"type": {"primary": "Dataset", "secondary": ["Software"]}}, "type.secondary[0]"),
        ({"type": {"primary": "Spreadsheet"}}, "type.primary"),
        ({"license": {"attribution": "CC0 1.0 please"}}, "license.attribution"),
        ({"files": [{"uri": "root://h//f", "size": 1, "checksum": "adler32:xyz"}]}, "files[0].checksum"),
        ({"files": [{"uri": "root://h//f", "size": -1}]}, "files[0].size"),
        ({"relations": [{"type": "isFriendOf", "recid": "2"}]}, "relations[0].type"),
        ({"relations": [{"type": "cites"}]}, "relations[0]"),
        ({"date_published": "yesterday"}, "date_published"),
        ({"unexpected": 1}, "(record)"),
    ],
)
def test_errors_name_the_field(patch, field):
    with pytest.raises(Invalid) as info:
        validate_record(minimal(**patch), source="x.yaml")
    assert info.value.field == field
    assert "x.yaml" in info.value.message and "record 1" in info.value.message


def test_missing_title_is_reported():
    md = minimal()
    del md["title"]
    assert any("'title' is a required property" in msg for _path, msg in validation_errors(md))


def test_relation_vocabulary_maps_to_datacite():
    assert datacite_relation("isDerivedFrom") == "IsDerivedFrom"
    assert datacite_relation("isChildOf") == "IsPartOf"
    assert inverse_relation("isDerivedFrom") == "isSourceOf"
    assert inverse_relation(inverse_relation("hasVersion")) == "hasVersion"
