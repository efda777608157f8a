"""Domain errors carry English message ids with named values: the web layer translates them at the problem+json
boundary, while `detail`, `message` and str() stay English for the CLI and the logs."""

from __future__ import annotations

from portal.errors import Invalid, NotFound, PortalError
from portal.i18n import N_

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
