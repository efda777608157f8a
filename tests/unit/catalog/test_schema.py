"""The record JSON schemas: the deposit profile's vocabulary in step, the import profile open where CERN's
schema is, and errors that name the field in both."""

import pytest

from portal.catalog.schema import record_schema, validate_record, validation_errors
from portal.catalog.vocabulary import (
    RELATION_TYPES,
    RESOURCE_TYPES,
    datacite_relation,
    inverse_relation,
    resource_type,
)
from portal.errors import Invalid


def minimal(**extra):
    return {
        "recid": "1",
        "title": "A dataset",
        "type": {"primary": "Dataset", "secondary": ["Derived"]},
        "date_published": "2024",
        **extra,
    }


def test_deposit_enums_match_the_vocabulary():
    schema = record_schema("deposit")
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


def test_the_import_profile_leaves_the_vocabularies_open():
    # CERN's record-v1.0.0 constrains none of these; its published records use values outside our tables.
    assert "enum" not in record_schema()["properties"]["type"]["properties"]["primary"]
    assert "allOf" not in record_schema() and "enum" not in record_schema()["$defs"]["relation_type"]


# Refused by both profiles: the form of identifiers, dates, checksums and sizes, required fields, and
# relations that name nothing.
BOTH = [
    ({"authors": [{"name": "A", "orcid": "1234"}]}, "authors[0].orcid"),
    ({"license": {"attribution": "CC0 1.0 please"}}, "license.attribution"),
    ({"files": [{"uri": "root://h//f", "size": 1, "checksum": "adler32:xyz"}]}, "files[0].checksum"),
    ({"files": [{"uri": "root://h//f", "size": -1}]}, "files[0].size"),
    ({"relations": [{"type": "cites"}]}, "relations[0]"),
    ({"relations": [{"type": "cites", "doi": "doi:10.1234/x"}]}, "relations[0].doi"),
    ({"doi": "10.7483/OPENDATA CMS"}, "doi"),
    ({"experiment": "CMS"}, "experiment"),
    ({"distribution": {"number_events": "12"}}, "distribution.number_events"),
    ({"type": {"primary": ""}}, "type.primary"),
    ({"date_published": "yesterday"}, "date_published"),
    ({"unexpected": 1}, "(record)"),
]
# Refused only by the deposit profile: values outside the vocabulary, relations that name no target.
DEPOSIT_ONLY = [
    ({"type": {"primary": "Dataset", "secondary": ["Software"]}}, "type.secondary[0]"),
    ({"type": {"primary": "Spreadsheet"}}, "type.primary"),
    ({"relations": [{"type": "isFriendOf", "recid": "2"}]}, "relations[0].type"),
    ({"relations": [{"type": "isChildOf", "title": "/MinimumBias/Run2010A-v1/RAW"}]}, "relations[0]"),
]


@pytest.mark.parametrize(("patch", "field"), BOTH + DEPOSIT_ONLY)
def test_deposit_errors_name_the_field(patch, field):
    with pytest.raises(Invalid) as info:
        validate_record(minimal(**patch), source="x.yaml", profile="deposit")
    assert info.value.field == field
    assert "x.yaml" in info.value.message and "record 1" in info.value.message


@pytest.mark.parametrize(("patch", "field"), BOTH)
def test_import_errors_name_the_field(patch, field):
    with pytest.raises(Invalid) as info:
        validate_record(minimal(**patch), source="x.json")
    assert info.value.field == field
    assert "x.json" in info.value.message and "record 1" in info.value.message


@pytest.mark.parametrize(("patch", "_field"), DEPOSIT_ONLY)
def test_import_accepts_what_only_the_deposit_profile_refuses(patch, _field):
    validate_record(minimal(**patch))


def test_a_relation_without_a_target_says_how_to_name_one():
    [(field, message)] = validation_errors(minimal(relations=[{"type": "cites"}]))
    assert field == "relations[0]" and message == "needs one of: recid; doi; identifier and scheme; title"
    [(_, deposit)] = validation_errors(minimal(relations=[{"type": "cites"}]), "deposit")
    assert deposit == "needs one of: recid; doi; identifier and scheme"


@pytest.mark.parametrize(
    "rtype",
    [
        {"primary": "Supplementaries", "secondary": ["Logbook"]},
        {"primary": "Supplementaries", "secondary": ["Manual"]},
        {"primary": "Supplementaries", "secondary": ["Computing Note"]},
        {"primary": "Supplementaries", "secondary": ["Correction"]},
    ],
)
def test_cern_subtypes_are_in_the_vocabulary(rtype):
    validate_record(minimal(type=rtype), profile="deposit")


def test_missing_title_is_reported():
    md = minimal()
    del md["title"]
    assert any("'title' is a required property" in msg for _path, msg in validation_errors(md))
    assert validation_errors(md) == [("title", "'title' is a required property")]
    lesson = minimal(lesson={"level": "beginner"})
    assert validation_errors(lesson) == [("lesson.duration_minutes", "'duration_minutes' is a required property")]


def test_relation_vocabulary_maps_to_datacite():
    assert datacite_relation("isDerivedFrom") == "IsDerivedFrom"
    assert datacite_relation("isChildOf") == "IsPartOf"
    assert datacite_relation("isFriendOf") == "References"  # an open import value: DataCite's weakest type
    assert inverse_relation("isDerivedFrom") == "isSourceOf"
    assert inverse_relation(inverse_relation("hasVersion")) == "hasVersion"


def test_a_type_outside_the_vocabulary_exports_as_other():
    assert resource_type("Dataset") is RESOURCE_TYPES["Dataset"]
    other = resource_type("Spreadsheet")
    assert (other.primary, other.datacite, other.csl, other.schema_org) == (
        "Spreadsheet",
        "Other",
        "document",
        "CreativeWork",
    )
