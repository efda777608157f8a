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
