"""Executor doubles for unit tests and failure modes: one whose every task fails, one that is slow."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from portal.processing.executors.inline import InlineExecutor


class TaskFailed(RuntimeError):
    """A task that the failing executor refused to run."""


def _describe(item: Any, limit: int = 300) -> str:
    text = repr(item)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class FailingExecutor(InlineExecutor):
    """Every task raises TaskFailed naming its item, as on a cluster whose workers all crash: for the failure
    paths of jobs."""

    name = "failing"
    development_only = True

    @classmethod
    def from_settings(cls, settings: Any, **_: Any) -> FailingExecutor:
        return cls()

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        for item in items:
            raise TaskFailed(f"the failing executor failed the task {_describe(item)}")
            yield  # pragma: no cover - makes this a generator, like every executor's map_unordered


class SlowExecutor(InlineExecutor):
    """Runs every task in the calling thread after waiting ``delay`` seconds (0.5 by default): for progress
    displays, polling clients and timeouts."""

    name = "slow"
    development_only = True

    def __init__(self, delay: float = 0.5) -> None:
        self.delay = delay

    @classmethod
    def from_settings(cls, settings: Any, **_: Any) -> SlowExecutor:
        return cls()

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        for item in items:
            time.sleep(self.delay)
            yield fn(item)
