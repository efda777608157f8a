"""The portal's languages and the marker of translatable messages, free of Flask so domain modules can use it.

Domain code marks a message with ``N_`` where it is written (``Invalid(N_("page must be a positive number"))``):
``pybabel extract`` (`make translations`) collects it into the catalogue, and the web layer translates it at the
problem+json boundary (`portal.web.problems`). A message with values names them as ``{placeholders}`` and passes
the values as keyword arguments, so the translation can move them. The CLI and the logs keep the English text.
"""

from __future__ import annotations

#: English is the source language (the msgids); French is CERN's other official language.
LANGUAGES = {"en": "English", "fr": "Français"}
DEFAULT_LANGUAGE = "en"


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated later, where the reader's language is known."""
    return message


class Plural(str):
    """A message id with a plural form (made by :func:`NP_`): the string is the English singular, ``plural`` the
    English plural; the value named ``num`` in the error's values chooses the form (French has three)."""

    plural: str

    def __new__(cls, singular: str, plural: str) -> Plural:
        message = super().__new__(cls, singular)
        message.plural = plural
        return message


def NP_(singular: str, plural: str) -> Plural:
    """Mark a message with a plural form for extraction (babel.cfg declares ``NP_:1,2``); the error carrying it
    passes ``num=`` and is translated with ngettext where the reader's language is known."""
    return Plural(singular, plural)


def translate_same(message: str, plural: str | None = None, num: int = 1) -> str:
    """The English text itself (the CLI and the logs): the singular, or the plural when ``num`` is not 1."""
    return message if plural is None or num == 1 else plural
