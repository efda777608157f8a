"""The deposit forms' schemas (data) and what is generated from them: the form's fields, the metadata a submitted
form gives, and the messages of every field's problem."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from werkzeug.datastructures import MultiDict

from portal.catalog.schema import validation_errors
from portal.catalog.vocabulary import RESOURCE_TYPES
from portal.deposit import forms
from portal.errors import InvalidFields, NotFound


def _texts(node: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("title", "description") and isinstance(value, str):
                out.add(value)
            elif isinstance(value, dict | list):
                out |= _texts(value)
    elif isinstance(node, list):
        for item in node:
            out |= _texts(item)
    return out


@pytest.mark.parametrize("slug", forms.TYPES)
def test_every_schema_is_valid_and_its_form_texts_are_marked_for_translation(slug):
    schema = forms.type_schema(slug)
    Draft202012Validator.check_schema(schema)
    shown = _texts(schema["properties"])  # the schema's own title and description are for readers of the file
    assert shown <= set(forms.LABELS), sorted(shown - set(forms.LABELS))


@pytest.mark.parametrize("slug", forms.TYPES)
def test_subtypes_are_the_vocabulary_s(slug):
    schema = forms.type_schema(slug)
    primary = schema["properties"]["type"]["properties"]["primary"]["const"]
    assert primary == forms.TYPES[slug]
    subtypes = schema["properties"]["type"]["properties"]["secondary"]["items"]["enum"]
    assert tuple(subtypes) == RESOURCE_TYPES[primary].subtypes


def test_a_submitted_form_becomes_metadata_over_the_draft_s():
    form = MultiDict(
        [
            ("title", " Muons "),
            ("type.secondary", "Derived"),
            ("authors[0].name", "Doe, Jane"),
            ("authors[1].name", ""),  # a spare row left empty adds nobody
            ("authors[2].name", "Roe, Richard"),
            ("authors[2].orcid", "0000-0002-1825-0097"),
            ("keywords", "muons\n  teaching \n\n"),
            ("abstract.description", "Pairs."),
            ("license.attribution", ""),  # emptied: removed
            ("date_published", "2026-12-01"),
        ]
    )
    base = {
        "recid": "7",
        "abstract": {"links": [{"url": "https://example.org"}]},
        "license": {"attribution": "MIT"},
        "note": {"description": "set through the API"},
    }
    md = forms.metadata_from_form("dataset", form, base)
    assert md == {
        "title": "Muons",
        "type": {"primary": "Dataset", "secondary": ["Derived"]},
        "authors": [{"name": "Doe, Jane"}, {"name": "Roe, Richard", "orcid": "0000-0002-1825-0097"}],
        "keywords": ["muons", "teaching"],
        "abstract": {"links": [{"url": "https://example.org"}], "description": "Pairs."},
        "date_published": "2026-12-01",
        "note": {"description": "set through the API"},
    }
    assert base["license"] == {"attribution": "MIT"}  # the caller's dict is left alone
    assert validation_errors({**md, "recid": "7"}) == []  # what the form gives, the record schema takes
    forms.check(md)


def test_fields_are_filled_from_metadata_with_spare_author_rows():
    items = forms.fields("software", {"title": "Tool", "authors": [{"name": "Doe"}], "type": {"secondary": ["Tool"]}})
    by_name = {i.name: i for i in items}
    assert by_name["title"].value == "Tool" and by_name["title"].minlength == 3 and by_name["title"].required
    assert by_name["type.secondary"].widget == "checkboxes" and by_name["type.secondary"].value == ["Tool"]
    group = by_name["authors"]
    assert isinstance(group, forms.Group) and len(group.rows) == 1 + forms.SPARE_ROWS
    assert group.rows[0][0].name == "authors[0].name" and group.rows[0][0].value == "Doe"
    assert "source_code_repository.url" in by_name and "experiment" not in by_name  # a software's own fields


def test_every_problem_is_named_at_its_field_in_form_order():
    bad = {
        "title": "ab",
        "type": {"primary": "Dataset", "secondary": ["Derived", "Imaginary"]},
        "authors": [{"affiliation": "CERN", "orcid": "1234"}],
        "date_published": "2026-12-01",
        "license": {"attribution": "CC 0"},
    }
    with pytest.raises(InvalidFields) as caught:
        forms.check(bad)
    found = {e.field: e.detail for e in caught.value.errors}
    assert list(found) == ["title", "type.secondary", "authors[0].name", "authors[0].orcid", "license.attribution"]
    assert found["title"] == "Title needs at least 3 characters"
    assert found["authors[0].name"] == "Name is required"
    assert found["authors[0].orcid"].startswith("ORCID iD is not in the expected form")
    problem = caught.value.to_problem()
    assert problem["field"] == "title" and len(problem["errors"]) == 5  # type: ignore[arg-type]
    assert "(and 4 more problems)" in str(problem["detail"])


def test_other_types_are_left_to_the_record_schema_and_unknown_forms_are_not_found():
    forms.check({"title": "x", "type": {"primary": "Article"}})  # no deposit form: nothing to check here
    with pytest.raises(NotFound):
        forms.type_schema("poster")
