"""The search-after cursor: the sort keys of the last hit of a page, as an opaque URL-safe token.

A cursor is the JSON list of the last hit's sort keys (e.g. ``[score, recid]`` or ``[title_sort, recid]``),
base64url-encoded without padding. The next page holds the hits strictly after those keys in the sort order,
so paging has no result-window limit and never skips or repeats a hit while the index is unchanged.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from portal.errors import Invalid
from portal.i18n import N_


def encode_cursor(values: list[Any]) -> str:
    """The cursor of the sort keys ``values`` (JSON-serialisable: numbers and strings)."""
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, n: int) -> list[Any]:
    """The ``n`` sort keys held by ``cursor``; :class:`Invalid` (field ``cursor``) for anything that is not a
    cursor of ``n`` keys, e.g. one of another sort, edited, or not a cursor at all."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(values, list) and len(values) == n and all(map(_sort_key, values)):
            return values
    except (ValueError, RecursionError):  # RecursionError: a "cursor" of deeply nested brackets
        pass
    raise Invalid(N_("cursor is not one this search returned; start again without it"), field="cursor")


#: the largest magnitude of an integer sort key: a BIGINT (SQLite's INTEGER, PostgreSQL's BIGINT)
_MAX_INT = 2**63 - 1


def _sort_key(value: Any) -> bool:
    """Whether ``value`` can be a sort key this portal wrote: a string or a number the databases can bind (a
    larger integer overflows SQLite's and PostgreSQL's drivers, a 500). Sort keys are never null (every listed
    record has a title and a date); nulls, lists, objects and booleans come only from edited cursors."""
    if isinstance(value, str):
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_MAX_INT <= value <= _MAX_INT
    if isinstance(value, float):
        return math.isfinite(value)
    return False
