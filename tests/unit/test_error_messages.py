"""Domain errors carry English message ids with named values: the web layer translates them at the problem+json
boundary, while `detail`, `message` and str() stay English for the CLI and the logs."""

from __future__ import annotations

from portal.errors import Invalid, NotFound, PortalError
from portal.i18n import N_, NP_

FRENCH = {
    "there is no record {recid}": "il n'existe pas d'enregistrement {recid}",
    "record {record}": "enregistrement {record}",
    "field {field}": "champ {field}",
    "Not found": "Introuvable",
    "Invalid input": "Entrée invalide",
}


def french(message: str) -> str:
    return FRENCH.get(message, message)


def test_a_message_id_is_filled_in_english_and_translated_with_its_values():
    err = NotFound(N_("there is no record {recid}"), recid=42, record=42)
    assert err.detail == "there is no record 42"
    assert str(err) == err.message == "record 42: there is no record 42"
    assert err.localized(french) == "enregistrement 42: il n'existe pas d'enregistrement 42"
    problem = err.to_problem(french)
    assert problem["title"] == "Introuvable" and problem["detail"] == err.localized(french)
    assert problem["record"] == 42
    assert err.to_problem()["title"] == "Not found" and err.to_problem()["detail"] == err.message


def test_a_message_without_values_is_taken_as_it_is_braces_included():
    # an already formatted text (the f-strings not yet turned into message ids) is shown untranslated
    err = Invalid('send a JSON object: {"title"?: TEXT}', field="body")
    assert err.detail == 'send a JSON object: {"title"?: TEXT}'
    assert err.localized(french) == 'champ body: send a JSON object: {"title"?: TEXT}'
    assert err.to_problem(french)["title"] == "Entrée invalide"


def test_values_are_not_translated_and_placeholders_keep_their_conversions():
    err = PortalError(N_("unknown scale {scale!r}"), scale="Record 1")
    assert err.detail == "unknown scale 'Record 1'"
    assert err.localized(lambda m: m.replace("unknown scale", "échelle inconnue")) == "échelle inconnue 'Record 1'"


def _french_plural(message: str, plural: str | None = None, num: int = 1) -> str:
    """French's three forms (the catalogue's Plural-Forms: 0 and 1; millions; the rest) for one message."""
    if plural is None:
        return french(message)
    forms = ["{problem} (et {num} autre problème)", "{problem} (et {num} d’autres problèmes)"]
    forms.append("{problem} (et {num} autres problèmes)")
    return forms[0 if num in (0, 1) else 1 if num % 1_000_000 == 0 else 2]


def test_a_message_with_a_plural_form_is_chosen_by_its_num_value_in_each_language():
    message = NP_("{problem} (and {num} more problem)", "{problem} (and {num} more problems)")
    one, two, million = (Invalid(message, problem="bad title", num=n) for n in (1, 2, 1_000_000))
    assert one.detail == "bad title (and 1 more problem)" and two.detail == "bad title (and 2 more problems)"
    assert one.localized_detail(_french_plural) == "bad title (et 1 autre problème)"
    assert two.localized_detail(_french_plural) == "bad title (et 2 autres problèmes)"
    assert million.localized_detail(_french_plural) == "bad title (et 1000000 d’autres problèmes)"


def test_an_error_raised_like_another_keeps_its_message_id_and_values():
    cause = NotFound(N_("there is no record {recid}"), recid=42, field="recid")
    again = Invalid.like(cause, source="link 3")
    assert isinstance(again, Invalid) and again.status == 400
    assert again.template == cause.template and again.params == {"recid": 42}
    assert (again.source, again.field) == ("link 3", "recid")
    assert again.localized_detail(french) == "il n'existe pas d'enregistrement 42"  # translated, not fixed in English


def test_an_error_kept_in_a_row_is_shown_later_in_the_readers_language():
    import json

    from portal.errors import stored_message
    from portal.releases.outcomes import Refused

    err = NotFound(N_("there is no record {recid}"), recid=42, record=42)
    kept = json.loads(json.dumps(err.stored()))  # what a JSON column gives back
    assert stored_message(kept) == err.message
    assert stored_message(kept, french) == err.localized(french)
    # a value that JSON cannot hold is kept as its text; a plural keeps both forms
    oops = Invalid(N_("cannot read {path}: {exc}"), path="a.root", exc=OSError("disk gone"))
    assert stored_message(json.loads(json.dumps(oops.stored()))) == oops.message == "cannot read a.root: disk gone"
    many = Invalid(NP_("{num} file is missing", "{num} files are missing"), num=3)
    assert stored_message(json.loads(json.dumps(many.stored()))) == "3 files are missing"
    # a delivery's reason: the sentence alone (its field is a column of its own)
    refused = Refused(N_("repository URL must not carry credentials"), field="url")
    assert stored_message(refused.stored()) == refused.reason
