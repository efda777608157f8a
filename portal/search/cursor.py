"""The search-after cursor: the sort keys of the last hit of a page, as an opaque URL-safe token.

A cursor is the JSON list of the last hit's sort keys (e.g. ``[score, recid]`` or ``[title_sort, recid]``),
base64url-encoded without padding. The next page holds the hits strictly after those keys in the sort order,
so paging has no result-window limit and never skips or repeats a hit while the index is unchanged.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from portal.errors import Invalid


def encode_cursor(values: list[Any]) -> str:
    """The cursor of the sort keys ``values`` (JSON-serialisable: numbers and strings)."""
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, n: int) -> list[Any]:
    """The ``n`` sort keys held by ``cursor``; :class:`Invalid` (field ``cursor``) for anything that is not a
    cursor of ``n`` keys, e.g. one of another sort, edited, or not a cursor at all."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(values, list) and len(values) == n:
            return values
    except (ValueError, RecursionError):  # RecursionError: a "cursor" of deeply nested brackets
        pass
    raise Invalid("cursor is not one this search returned; start again without it", field="cursor")
