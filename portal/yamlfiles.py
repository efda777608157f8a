"""YAML as the portal reads it from files people write (record files, lesson.yaml): PyYAML's safe loader
without aliases and with bounded nesting.

Aliases are refused because nothing the portal reads needs them and they make a "billion laughs" bomb: a few
lines whose aliases refer to aliases expand to billions of nodes once the document is serialised (to JSON for
the catalogue, to compute a content hash). Nesting is bounded because PyYAML's composer, and everything that
walks the result (schema validation, deep copies), recurse once per level: a few thousand `[` exhaust the
stack. Both come back as ``yaml.YAMLError`` with the position, as syntax errors do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.events import AliasEvent, CollectionStartEvent
from yaml.nodes import Node

#: deepest nesting of sequences and mappings a document may have (CERN's records nest fewer than 10 levels)
MAX_DEPTH = 64


class _Loader(yaml.SafeLoader):
    depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node | None:  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            raise ComposerError(
                None,
                None,
                "aliases (*name) are not allowed here: write the value out",
                event.start_mark,  # type: ignore[arg-type]  # a Mark of the pure or the C loader, either works
            )
        entering = isinstance(event, CollectionStartEvent)
        if entering:
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        try:
            return super().compose_node(parent, index)  # type: ignore[arg-type]
        finally:
            if entering:
                self.depth -= 1


def load(text: str) -> Any:
    """The one document of ``text``. Raises yaml.YAMLError."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader


def load_all(text: str) -> Iterator[Any]:
    """Every document of ``text``, one at a time. Raises yaml.YAMLError."""
    return yaml.load_all(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
