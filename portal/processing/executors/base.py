"""The executor seam: what the engine needs from whatever runs its tasks (in the calling thread or on Dask)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar


class Executor:
    """Runs a function over work items and hands the results back as they complete.

    The contract, checked against every real executor by ``tests/functional/test_executor_contract.py``:

    - ``map_unordered(fn, items)`` yields ``fn(item)`` exactly once per item, in order of completion (not of
      ``items``): the engine merges results whatever order they come in.
    - An exception raised by ``fn(item)`` propagates out of the iterator (after any retries the executor makes).
    - Closing the iterator early (the consumer stops, or raises) cancels the items that have not started.
    - Several threads may call ``map_unordered`` at once: one executor serves every job of a process.
    - ``fn`` and the items may have to travel to other processes: they must be picklable (``fn`` with
      cloudpickle), and results likewise.
    - ``slots()`` tasks can run at the same time.
    - ``close()`` releases what the executor holds (a cluster, a connection); it is not used afterwards.

    Implementations are registered in the ``portal.executors`` entry-point group and built by
    ``from_settings(settings)``; ``name`` is what a job's provenance records as having run it.
    """

    name: ClassVar[str] = "base"

    @classmethod
    def from_settings(cls, settings: Any, **deps: Any) -> Executor:
        """Build the executor from :class:`portal.settings.Settings`; :class:`portal.errors.Invalid` names a
        setting that is missing or wrong, :class:`portal.errors.Unavailable` a cluster that cannot be reached."""
        raise NotImplementedError

    def slots(self) -> int:
        """How many tasks can run at once (worker threads); the planner sizes tasks from it. At least 1."""
        return 1

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        """``fn(item)`` for each item, yielded in order of completion. Closing the iterator early (an
        exception in the consumer) cancels what has not run yet."""
        raise NotImplementedError

    def alive(self) -> bool:
        """Whether the executor can still take work. An executor whose resources can go away under it (a
        gateway cluster shut down by its idle timeout or from a notebook) says False, and the pool builds a new
        one instead of handing the dead one to every later job."""
        return True

    def close(self) -> None:
        """Release the executor's resources (stop an embedded cluster, disconnect from a scheduler)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
