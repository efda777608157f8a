"""The record JSON schemas kept in the package (an import profile and a stricter deposit profile), and
validation with messages that name the field.

- ``import`` (`schemas/record-v1.json`): what loads. Every field of CERN Open Data's `record-v1.0.0`;
  identifiers, dates, checksums and sizes checked for form; vocabularies left open as CERN leaves them.
- ``deposit`` (`schemas/record-v1-deposit.json`): the import profile plus closed vocabularies (types,
  subtypes, relation types, from :mod:`portal.catalog.vocabulary`) and relations that point at something
  resolvable. For records written here: our YAML record files, deposit forms, new versions.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from portal.errors import Invalid
from portal.i18n import NP_

#: the first of several schema problems, and how many follow
MORE_PROBLEMS_AFTER = NP_("{problem} (and {num} more problem)", "{problem} (and {num} more problems)")

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError
    from referencing import Registry

Profile = Literal["import", "deposit"]
PROFILES: dict[str, str] = {"import": "record-v1.json", "deposit": "record-v1-deposit.json"}
SCHEMA_NAME = PROFILES["import"]


@cache
def record_schema(profile: Profile = "import") -> dict[str, Any]:
    """The JSON Schema of ``profile`` as a dict. Raises KeyError for an unknown profile."""
    name = PROFILES[profile]
    with resources.files("portal.catalog").joinpath("schemas", name).open(encoding="utf-8") as fh:
        return json.load(fh)


@cache
def _registry() -> Registry:
    # The deposit schema refers to the import schema by its $id; nothing is fetched from the network.
    from referencing import Registry, Resource

    schemas = [record_schema(p) for p in ("import", "deposit")]
    return Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)


@cache
def _validator(profile: Profile) -> Draft202012Validator:
    # Imported on first use: with rfc3987-syntax installed, importing jsonschema compiles grammars (1-3 s), a cost
    # that processes only reading the catalogue (web workers, `portal --help`) should not pay.
    from jsonschema import Draft202012Validator

    schema = record_schema(profile)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=_registry())


def field_path(error: ValidationError) -> str:
    """`authors[0].orcid` style path of a validation error (`(record)` for the top level)."""
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(record)"


def _alternatives(error: ValidationError) -> str | None:
    """For an anyOf of `required` sets (a relation names its target one of several ways), say so whole."""
    if error.validator != "anyOf" or not all("required" in option for option in error.validator_value):
        return None
    ways = [" and ".join(option["required"]) for option in error.validator_value]
    return "needs one of: " + "; ".join(ways)


def _deepest(error: ValidationError) -> tuple[ValidationError, str]:
    # anyOf/allOf errors hide the useful message in their context; take the most specific one.
    while error.context:
        whole = _alternatives(error)
        if whole is not None:
            return error, whole
        error = max(error.context, key=lambda e: len(list(e.absolute_path)))
    return error, error.message


def validation_errors(metadata: dict[str, Any], profile: Profile = "import") -> list[tuple[str, str]]:
    """All violations of ``profile`` as (field path, message), in document order."""
    errors = sorted(_validator(profile).iter_errors(metadata), key=lambda e: [str(p) for p in e.absolute_path])
    # The deposit profile includes the import profile ($ref, checked first) and restates some of its rules
    # more strictly; where both object at the same place, only the later (stricter) message is kept.
    found: dict[tuple[str, tuple[str | int, ...]], tuple[str, str]] = {}
    for err in errors:
        specific, message = _deepest(err)
        if len(message) > 300:
            message = message[:297] + "..."
        path = field_path(specific)
        if specific.validator == "required" and isinstance(specific.instance, dict):
            # Name the missing field itself, not the object that lacks it.
            missing = next(p for p in specific.validator_value if p not in specific.instance)
            path = missing if path == "(record)" else f"{path}.{missing}"
        found.pop((path, tuple(err.schema_path)), None)
        found[(path, tuple(err.schema_path))] = (path, message)
    out: list[tuple[str, str]] = []
    for item in found.values():
        if item not in out:
            out.append(item)
    return out


def validate_record(metadata: dict[str, Any], *, source: str | None = None, profile: Profile = "import") -> None:
    """Raise :class:`Invalid` naming the source, record and first field that violates ``profile``."""
    errors = validation_errors(metadata, profile)
    if errors:
        path, message = errors[0]
        record = metadata.get("recid", "(no recid)")
        if len(errors) == 1:  # the schema validator's own words (English), as it gives them
            raise Invalid(message, source=source, record=record, field=path)
        raise Invalid(
            MORE_PROBLEMS_AFTER, problem=message, num=len(errors) - 1, source=source, record=record, field=path
        )
