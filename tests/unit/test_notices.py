"""A Notice is English text that keeps its message id and values: said in the reader's language, also when it is
the value of another message, and still itself after a copy (dataclasses.asdict deep-copies)."""

import copy

from portal.errors import Notice, json_params, stored_message

ASKED = "runtime.txt asks for {wanted}; the venv builder uses {have}"
FRENCH = {
    "warning: {problem}": "avertissement : {problem}",
    "runtime.txt asks for {wanted}; the venv builder uses {have}": "runtime.txt demande {wanted} ; venv utilise {have}",
}


def french(message: str, plural: str | None = None, num: int = 1) -> str:
    return FRENCH.get(message, message)


def test_a_notice_is_its_english_text_and_says_itself_in_french() -> None:
    notice = Notice(ASKED, wanted="python-3.9", have="python-3.11")
    assert notice == "runtime.txt asks for python-3.9; the venv builder uses python-3.11"
    assert notice.localized(french) == "runtime.txt demande python-3.9 ; venv utilise python-3.11"
    again = copy.deepcopy(notice)
    assert again == notice and again.template == notice.template and again.params == notice.params


def test_a_notice_inside_another_message_is_translated_too() -> None:
    notice = Notice(ASKED, wanted="python-3.9", have="3.11")
    stored = {"id": "warning: {problem}", "params": json_params({"problem": notice})}
    assert stored["params"]["problem"] == notice.stored()  # kept whole in the row, not as its English text
    assert stored_message(stored, french) == "avertissement : runtime.txt demande python-3.9 ; venv utilise 3.11"
    assert stored_message(stored) == f"warning: {notice}"


def test_a_refusal_around_a_catalogue_error_keeps_both_sentences_translatable() -> None:
    from portal.errors import Invalid
    from portal.releases.outcomes import Refused

    err = Invalid("must be a date like {example}", example="2024-05-01", field="publication_date")
    detail = Notice(err.template, **err.params)  # as ReleaseService does for the catalogue's Invalid
    refused = Refused("bad {source}: {detail}", source="CITATION.cff", detail=detail)
    assert refused.reason == "bad CITATION.cff: must be a date like 2024-05-01"
    catalogue = {
        "bad {source}: {detail}": "{source} incorrect : {detail}",
        "must be a date like {example}": "doit être une date comme {example}",
    }
    said = stored_message(refused.stored(), lambda m, p=None, n=1: catalogue.get(m, m))
    assert said == "CITATION.cff incorrect : doit être une date comme 2024-05-01"
