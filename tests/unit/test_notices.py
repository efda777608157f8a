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
