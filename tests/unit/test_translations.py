"""The French catalogue is complete and current: `make translations` re-extracts the message ids from the package
(N_ marks, templates) and these tests fail until messages.pot matches the sources and every msgid has a French
translation that keeps its placeholders. The compiled .mo (make install, the wheel hook) matches the .po."""

from __future__ import annotations

import ast
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


# -- domain errors are raised with message ids -------------------------------------------------------------------
# A message written as an f-string (or a bare literal) is never in the catalogue: the reader gets English whatever
# their language. The CLI is exempt (it speaks English); a message held in a variable cannot be checked here.
PACKAGE = ROOT / "portal"
EXEMPT = {PACKAGE / "cli.py"}
#: the bases of the errors whose message is shown to people (problem+json, a delivery's reason, a job's error)
MESSAGE_BASES = {"PortalError", "DeliveryProblem"}


def _unmarked(arg: ast.expr) -> bool:
    """A message that is text already (not a msgid marked with N_/NP_, nor a value passed on)."""
    if isinstance(arg, ast.JoinedStr) or (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
        return True
    if isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Add | ast.Mod):
        return True
    return isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr == "format"


def _bases(node: ast.ClassDef) -> set[str]:
    return {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}


def _error_classes(trees: dict[Path, ast.Module]) -> set[str]:
    """The names of the classes deriving (by name, through any depth) from :data:`MESSAGE_BASES`."""
    names, grew = set(MESSAGE_BASES), True
    while grew:
        grew = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in names and _bases(node) & names:
                    names.add(node.name)
                    grew = True
    return names


def unmarked_messages(trees: dict[Path, ast.Module]) -> list[str]:
    """``path:line: Error(message)`` for every domain error raised with a message that is not a message id."""
    errors = _error_classes(trees)
    found = []
    for path, tree in trees.items():
        # a class of the module's own that is no domain error shadows a name (a double's TaskFailed(RuntimeError))
        classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
        known = errors - {n.name for n in classes if not _bases(n) & errors}
        # the base's __init__ called from an error class's own (a fixed message): checked as a raise of that class
        inits = {
            id(call): cls.name
            for cls in classes
            if cls.name in known
            for call in ast.walk(cls)
            if isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "__init__"
            and isinstance(call.func.value, ast.Call)
            and getattr(call.func.value.func, "id", "") == "super"
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) and node.func.id in known else inits.get(id(node))
            if name and _unmarked(node.args[0]):
                message = ast.unparse(node.args[0])[:80]
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}({message})")
    return found


def test_the_checker_finds_a_message_written_as_text():
    source = """
class Invalid(PortalError): ...
class NotFound(PortalError): ...
class Refused(DeliveryProblem): ...
class TaskFailed(RuntimeError): ...
raise Invalid(f"bad {x}")
raise Refused("no tag", field="tag")
raise NotFound("gone " + name)
raise Invalid(N_("bad {x}"), x=x)
raise Refused(reason)
raise TaskFailed(f"a double's own error, not a domain one {x}")
class Precondition(PortalError):
    def __init__(self):
        super().__init__(f"send {VERSION}")
"""
    found = unmarked_messages({ROOT / "x.py": ast.parse(source)})
    assert [line.split(": ", 1)[1] for line in found] == [
        "Invalid(f'bad {x}')",
        "Refused('no tag')",
        "NotFound('gone ' + name)",
        "Precondition(f'send {VERSION}')",
    ]


def test_domain_errors_are_raised_with_message_ids():
    trees = {
        path: ast.parse(path.read_text(), str(path))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in EXEMPT and "migrations" not in path.parts
    }
    found = unmarked_messages(trees)
    assert not found, f"mark these messages with N_ and pass their values as keywords (French): {found[:10]}"


def test_every_domain_error_title_is_a_message_id():
    from portal.errors import PortalError

    ids = _ids(POT)

    def subclasses(cls: type) -> list[type]:
        return [cls, *(sub for direct in cls.__subclasses__() for sub in subclasses(direct))]

    import portal.environments.builders  # noqa: F401 - the errors defined outside portal.errors
    import portal.jobqueue.base  # noqa: F401
    import portal.launch.base  # noqa: F401
    import portal.web.tus  # noqa: F401

    missing = sorted({c.title for c in subclasses(PortalError) if (None, c.title) not in ids})
    assert not missing, f"titles without a message id (mark them with N_): {missing}"
