"""The inline executor: every task in the calling thread, one after the other (debugging, tiny datasets)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from portal.processing.executors.base import Executor


class InlineExecutor(Executor):
    """Runs ``fn(item)`` in the calling thread, in the order of ``items``; one slot, nothing to start or stop."""

    name = "inline"

    @classmethod
    def from_settings(cls, settings: Any, **_: Any) -> InlineExecutor:
        return cls()

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        # a generator: closing it early leaves the remaining items unrun, as the contract asks
        for item in items:
            yield fn(item)
