"""The French catalogue is complete and current: `make translations` re-extracts the message ids from the package
(N_ marks, templates) and these tests fail until messages.pot matches the sources and every msgid has a French
translation that keeps its placeholders. The compiled .mo (make install, the wheel hook) matches the .po."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "portal" / "translations"
POT = TRANSLATIONS / "messages.pot"
FRENCH = TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po"
# {name}, {name!r}, {pos:>3} (str.format, domain errors) and %(name)s (templates)
PLACEHOLDER = re.compile(r"\{\w+(?:![rsa])?(?::[^{}]*)?\}|%\(\w+\)[sd]")


def _key(value: str | list[str] | tuple[str, ...]) -> str | tuple[str, ...]:
    """A message's id or string, plural forms as a tuple (a .mo gives lists, a .po tuples)."""
    return value if isinstance(value, str) else tuple(value)


def _msgid(message: Message) -> tuple[str | None, str]:
    """What names a message: its context (pgettext) and its id (the singular of a plural)."""
    return message.context, message.id if isinstance(message.id, str) else message.id[0]


def _ids(path: Path) -> set[tuple[str | None, str]]:
    with path.open("rb") as f:
        return {_msgid(m) for m in read_po(f) if m.id}


def test_the_template_catalogue_is_current(tmp_path):
    pybabel = shutil.which("pybabel", path=str(Path(sys.executable).parent))
    assert pybabel, "pybabel (Babel) is not installed"
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [pybabel, "-q", "extract", "-F", "babel.cfg", "--no-location", "--omit-header", "-o", str(fresh), "portal"],
        cwd=ROOT,
        check=True,
    )
    committed, extracted = _ids(POT), _ids(fresh)
    assert extracted == committed, (
        f"messages.pot is stale: run `make translations`. New: {sorted(extracted - committed)[:10]}; "
        f"gone: {sorted(committed - extracted)[:10]}"
    )


def test_every_message_has_a_french_translation_with_its_placeholders():
    with FRENCH.open("rb") as f:
        french = {_msgid(m): m for m in read_po(f, locale="fr") if m.id}
    missing, fuzzy, broken = [], [], []
    for msgid in sorted(_ids(POT), key=lambda key: (key[0] or "", key[1])):
        message = french.get(msgid)
        strings = (
            []
            if message is None
            else [s for s in ([message.string] if isinstance(message.string, str) else message.string)]
        )
        if message is None or not strings or not all(strings):
            missing.append(msgid)
            continue
        if message.fuzzy:
            fuzzy.append(msgid)
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        wanted = sorted(set(PLACEHOLDER.findall(ids[-1])) | set(PLACEHOLDER.findall(ids[0])))
        for text in strings:
            if sorted(set(PLACEHOLDER.findall(text))) != wanted:
                broken.append((msgid, text))
    assert not missing, f"{len(missing)} msgids have no French translation (run `make translations`): {missing[:10]}"
    assert not fuzzy, f"fuzzy French translations (check and drop the flag): {fuzzy[:10]}"
    assert not broken, f"French translations that lose or add a placeholder: {broken[:5]}"


def test_the_compiled_catalogue_matches_its_source():
    mo = FRENCH.with_suffix(".mo")
    if not mo.exists():
        pytest.fail(f"{mo.relative_to(ROOT)} is missing: `make install` compiles it")
    with FRENCH.open("rb") as f:
        source = {(m.context, _key(m.id)): _key(m.string) for m in read_po(f, locale="fr") if m.id and not m.fuzzy}
    with mo.open("rb") as f:
        compiled = {(m.context, _key(m.id)): _key(m.string) for m in read_mo(f) if m.id}
    assert compiled == source, "the .mo is older than the .po: run `make install` (or `make translations`)"
