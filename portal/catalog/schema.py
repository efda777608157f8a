"""The record JSON schema kept in the package, and validation with messages that name the field."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from portal.errors import Invalid

SCHEMA_NAME = "record-v1.json"


@cache
def record_schema() -> dict[str, Any]:
    with resources.files("portal.catalog").joinpath("schemas", SCHEMA_NAME).open(encoding="utf-8") as fh:
        return json.load(fh)


@cache
def _validator() -> Draft202012Validator:
    schema = record_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def field_path(error: ValidationError) -> str:
    """`authors[0].orcid` style path of a validation error (`(record)` for the top level)."""
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(record)"


def _deepest(error: ValidationError) -> ValidationError:
    # anyOf/allOf errors hide the useful message in their context; take the most specific one.
    while error.context:
        error = max(error.context, key=lambda e: len(list(e.absolute_path)))
    return error


def validation_errors(metadata: dict[str, Any]) -> list[tuple[str, str]]:
    """All schema violations as (field path, message), in document order."""
    errors = sorted(_validator().iter_errors(metadata), key=lambda e: [str(p) for p in e.absolute_path])
    out = []
    for err in errors:
        specific = _deepest(err)
        message = specific.message
        if len(message) > 300:
            message = message[:297] + "..."
        out.append((field_path(specific), message))
    return out


def validate_record(metadata: dict[str, Any], *, source: str | None = None) -> None:
    """Raise :class:`Invalid` naming the source, record and first offending field."""
    errors = validation_errors(metadata)
    if errors:
        path, message = errors[0]
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise Invalid(message + more, source=source, record=metadata.get("recid", "(no recid)"), field=path)
