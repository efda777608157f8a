"""Deposit forms generated from JSON Schemas, one per record type (`schemas/<type>.json`, data, not code).

The same schema serves twice: the deposit service checks every draft of these types against it (so the API and the
pages refuse the same input with the same messages), and the pages build their form from it: a property is a field,
its ``title`` the label, its ``description`` the help, its rules (``minLength``, ``pattern``, ``enum``) both the
server's check and the browser's (HTML ``minlength``, ``pattern``). Field names are the paths the checks report
(``authors[0].orcid``), so a message always finds its field.

Widgets: a string is a text input (``x-widget: textarea`` a text area); an array of strings is a text area of one
value per line (``x-widget: lines``) or, with an ``enum``, checkboxes; an object's properties are fields named
``object.property``; an array of objects is a group of rows (one per item, and spare empty rows).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from portal.errors import FieldInvalid, InvalidFields, NotFound
from portal.i18n import N_

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

#: the record types with a deposit form, by the slug of their page, and their `type.primary`
TYPES: dict[str, str] = {
    "dataset": "Dataset",
    "software": "Software",
    "lesson": "Lesson",
    "environment": "Environment",
    "documentation": "Documentation",
}
#: empty rows offered after the filled ones of a group (authors) when the page is shown
SPARE_ROWS = 2

# The schemas' titles and descriptions, marked for extraction (tests/unit/deposit/test_forms.py keeps this list
# equal to the schemas' texts): the form shows them in the reader's language.
LABELS = (
    N_("Title"),
    N_("The title of the record (at least 3 characters)"),
    N_("Type"),
    N_("Subtype"),
    N_("Which kind of dataset this is"),
    N_("Which kind of software this is"),
    N_("Which kind of lesson this is"),
    N_("Which kind of environment this is"),
    N_("Which kind of documentation this is"),
    N_("Authors"),
    N_("Who made it, in citation order"),
    N_("Author"),
    N_("Name"),
    N_("Family name, given names"),
    N_("Affiliation"),
    N_("Institutes, separated by semicolons"),
    N_("ORCID iD"),
    N_("16 digits such as 0000-0002-1825-0097"),
    N_("Description"),
    N_("What it is and what it is for (Markdown)"),
    N_("Publication date"),
    N_("YYYY-MM-DD (or YYYY-MM, or YYYY)"),
    N_("Version"),
    N_("A version label such as 1.0 (optional)"),
    N_("Licence"),
    N_("An SPDX identifier such as CC0-1.0, CC-BY-4.0 or MIT"),
    N_("Keywords"),
    N_("One keyword per line"),
    N_("Experiments"),
    N_("One experiment per line (e.g. CMS)"),
    N_("Methodology"),
    N_("How the data were produced or selected (Markdown)"),
    N_("Source code repository"),
    N_("Repository URL"),
    N_("Where the source code lives (https://…)"),
    N_("Usage"),
    N_("How to install and run it (Markdown)"),
    N_("How to follow the lesson: audience, duration, what to open first (Markdown)"),
    N_("System details"),
    N_("Operating system, software releases and images it provides (Markdown)"),
    N_("How to start and use the environment (Markdown)"),
)

_INDEX = re.compile(r"^(?P<name>[a-z_]+)\[(?P<i>[0-9]{1,3})\]\.(?P<prop>[a-z_]+)$")


@dataclass
class Field:
    """One input of the form."""

    name: str  # the form field's name: the path validation reports (`authors[0].orcid`)
    label: str  # msgid
    help: str | None  # msgid
    widget: str  # text | textarea | lines | checkboxes
    required: bool = False
    minlength: int | None = None
    pattern: str | None = None
    choices: list[str] = field(default_factory=list)
    value: Any = ""  # a string, or a list of strings for `lines` and `checkboxes`

    @property
    def id(self) -> str:
        return "f-" + re.sub(r"[^A-Za-z0-9]+", "-", self.name).strip("-")


@dataclass
class Group:
    """An array of objects (authors): rows of fields, each row one item."""

    name: str
    label: str
    help: str | None
    item_label: str
    rows: list[list[Field]]

    @property
    def id(self) -> str:
        return "f-" + self.name


# --------------------------------------------------------------------------------------------------- schemas
def slug_of(primary: str | None) -> str | None:
    """The form slug of a record type (None: a type without a deposit form, such as Article)."""
    return next((slug for slug, name in TYPES.items() if name == primary), None)


@cache
def type_schema(slug: str) -> dict[str, Any]:
    """The deposit schema of a record type by slug; NotFound for another."""
    if slug not in TYPES:
        raise NotFound(N_("there is no deposit form for {kind!r}"), kind=slug, field="type")
    with resources.files("portal.deposit").joinpath("schemas", f"{slug}.json").open(encoding="utf-8") as fh:
        return json.load(fh)


@cache
def _validator(slug: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator  # imported on first use: slow to import (see catalog.schema)

    schema = type_schema(slug)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _path(error: ValidationError) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _label_at(schema: dict[str, Any], path: list[str | int]) -> str:
    node = schema
    label = str(schema.get("title", ""))
    for part in path:
        node = node.get("items", {}) if isinstance(part, int) else node.get("properties", {}).get(part, {})
        label = str(node.get("title", label))
    return label


def _field_error(slug: str, error: ValidationError) -> FieldInvalid:
    """A schema violation as a message about the field, in words a depositor reads (jsonschema's own messages
    quote Python values and are not translatable)."""
    schema = type_schema(slug)
    path = list(error.absolute_path)
    name = _path(error)
    rule, value = error.validator, error.validator_value
    if rule == "required":
        missing = next(p for p in value if p not in error.instance)
        path.append(missing)
        name = f"{name}.{missing}" if name else missing
        label = _label_at(schema, path)
        return FieldInvalid(N_("{label} is required"), field=name, label=label)
    label = _label_at(schema, path)
    if rule == "minLength" and value == 1:
        return FieldInvalid(N_("{label} is required"), field=name, label=label)
    if rule == "minLength":
        return FieldInvalid(N_("{label} needs at least {n} characters"), field=name, label=label, n=value)
    if rule == "pattern":
        node = schema
        for part in path:
            node = node.get("items", {}) if isinstance(part, int) else node.get("properties", {}).get(part, {})
        hint = str(node.get("description", ""))
        return FieldInvalid(N_("{label} is not in the expected form: {hint}"), field=name, label=label, hint=hint)
    if rule == "minItems":
        return FieldInvalid(N_("{label}: give at least {n}"), field=name, label=label, n=value)
    if rule in ("enum", "const"):
        if rule == "enum" and path and isinstance(path[-1], int):  # a value of a checkbox list: name the list
            name = _path_of(path[:-1])
        return FieldInvalid(N_("{label}: choose one of the values offered"), field=name, label=label)
    if rule == "uniqueItems":
        return FieldInvalid(N_("{label}: a value is given twice"), field=name, label=label)
    return FieldInvalid(N_("{label} is not valid here"), field=name or "(record)", label=label)


def _path_of(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check(metadata: dict[str, Any]) -> None:
    """Refuse (InvalidFields, every problem at its field) a draft of a type with a deposit form that breaks its
    schema; a draft of another type is left to the record schema alone."""
    slug = slug_of((metadata.get("type") or {}).get("primary") if isinstance(metadata.get("type"), dict) else None)
    if slug is None:
        return
    errors = sorted(_validator(slug).iter_errors(metadata), key=lambda e: _order(slug, list(e.absolute_path)))
    found: list[FieldInvalid] = []
    for err in errors:
        problem = _field_error(slug, err)
        if all(p.field != problem.field for p in found):  # one message per field: the first rule it breaks
            found.append(problem)
    if found:
        raise InvalidFields(found)


def _order(slug: str, path: list[str | int]) -> list[Any]:
    """Errors in the order of the form's fields (the schema's property order), then of the items."""
    names = list(type_schema(slug)["properties"])
    head = path[0] if path else ""
    return [names.index(head) if head in names else len(names), *[str(p) for p in path[1:]]]


# --------------------------------------------------------------------------------------------------- the form
def fields(slug: str, metadata: dict[str, Any] | None = None) -> list[Field | Group]:
    """The form of ``slug``, its fields filled from ``metadata`` (a draft's, or what was submitted)."""
    schema = type_schema(slug)
    md = metadata or {}
    out: list[Field | Group] = []
    required = set(schema.get("required", []))
    for name, prop in schema["properties"].items():
        if name == "type":
            sub = prop["properties"]["secondary"]
            chosen = ((md.get("type") or {}).get("secondary") or []) if isinstance(md.get("type"), dict) else []
            out.append(
                Field(
                    "type.secondary",
                    sub["title"],
                    sub.get("description"),
                    "checkboxes",
                    choices=list(sub["items"]["enum"]),
                    value=[str(v) for v in chosen],
                )
            )
        elif prop.get("type") == "object":
            given = md.get(name)
            inner: dict[str, Any] = given if isinstance(given, dict) else {}
            for sub_name, sub in prop["properties"].items():
                out.append(_field(f"{name}.{sub_name}", sub, inner.get(sub_name), sub_name in prop.get("required", [])))
        elif prop.get("type") == "array" and prop["items"].get("type") == "object":
            items = [i for i in md.get(name) or [] if isinstance(i, dict)]
            item = prop["items"]
            rows = []
            for i in range(len(items) + SPARE_ROWS):
                given = items[i] if i < len(items) else {}
                rows.append(
                    [
                        _field(f"{name}[{i}].{k}", sub, given.get(k), i < len(items) and k in item.get("required", []))
                        for k, sub in item["properties"].items()
                    ]
                )
            out.append(Group(name, prop["title"], prop.get("description"), item.get("title", ""), rows))
        else:
            out.append(_field(name, prop, md.get(name), name in required))
    return out


def _field(name: str, prop: dict[str, Any], value: Any, required: bool) -> Field:
    if prop.get("type") == "array":
        values = [str(v) for v in value] if isinstance(value, list) else []
        return Field(name, prop["title"], prop.get("description"), "lines", required=required, value=values)
    widget = "textarea" if prop.get("x-widget") == "textarea" else "text"
    return Field(
        name,
        prop["title"],
        prop.get("description"),
        widget,
        required=required,
        minlength=prop.get("minLength"),
        pattern=prop.get("pattern"),
        value="" if value is None else str(value),
    )


def metadata_from_form(slug: str, form: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The metadata a submitted form describes, over ``base`` (the draft's): the form's fields replace theirs,
    an emptied field is removed, and whatever the form does not show (set through the API) is kept.

    ``form`` is a Werkzeug MultiDict (``getlist`` for checkboxes)."""
    schema = type_schema(slug)
    md: dict[str, Any] = json.loads(json.dumps(base or {}))  # a deep copy: the caller's dict is left alone
    for key in ("recid", "conceptrecid", "doi", "conceptdoi"):
        md.pop(key, None)
    for name, prop in schema["properties"].items():
        if name == "type":
            kind = dict(md.get("type") or {}) if isinstance(md.get("type"), dict) else {}
            kind["primary"] = TYPES[slug]
            chosen = [v.strip() for v in form.getlist("type.secondary") if v.strip()]
            if chosen:
                kind["secondary"] = chosen
            else:
                kind.pop("secondary", None)
            md["type"] = kind
        elif prop.get("type") == "object":
            inner = dict(md.get(name) or {}) if isinstance(md.get(name), dict) else {}
            for sub_name, sub in prop["properties"].items():
                _put(inner, sub_name, _read(form, f"{name}.{sub_name}", sub))
            _put(md, name, inner or None)
        elif prop.get("type") == "array" and prop["items"].get("type") == "object":
            _put(md, name, _rows(form, name, prop["items"]) or None)
        else:
            _put(md, name, _read(form, name, prop))
    return md


def _read(form: Any, name: str, prop: dict[str, Any]) -> Any:
    raw = form.get(name, "")
    if prop.get("type") == "array":
        return [line.strip() for line in raw.splitlines() if line.strip()] or None
    return raw.strip() or None


def _rows(form: Any, name: str, item: dict[str, Any]) -> list[dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for key in form:
        match = _INDEX.match(key)
        if match is None or match["name"] != name or match["prop"] not in item["properties"]:
            continue
        value = _read(form, key, item["properties"][match["prop"]])
        if value is not None:
            found.setdefault(int(match["i"]), {})[match["prop"]] = value
    return [found[i] for i in sorted(found)]  # empty rows are dropped: spare rows left blank add nobody


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value
