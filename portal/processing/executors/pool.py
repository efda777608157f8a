"""The executors a process offers its jobs, by name, each built on first use and then shared."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from portal.errors import Invalid
from portal.processing.executors.base import Executor


class ExecutorPool:
    """Named executor factories; ``get(name)`` builds that executor on first use and hands the same one to every
    later job (an embedded cluster starts once, a scheduler is connected to once). ``close()`` closes all built.

    :mod:`portal.services` fills the pool from the ``portal.executors`` registry; tests fill it with doubles.
    """

    def __init__(self, factories: Mapping[str, Callable[[], Executor]]) -> None:
        self._factories = dict(factories)
        self._built: dict[str, Executor] = {}
        # one lock per name: a cluster starting (seconds) does not hold up jobs on another executor
        self._locks = {name: threading.Lock() for name in self._factories}

    def names(self) -> list[str]:
        """The names a job may ask for, sorted."""
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def check(self, name: str) -> None:
        """Invalid (field ``executor``) listing the choices, unless ``name`` is one of them."""
        if name not in self._factories:
            raise Invalid(f"unknown executor {name!r}; choose one of {', '.join(self.names())}", field="executor")

    def get(self, name: str) -> Executor:
        """The executor called ``name``, built now if this is its first use. What building raises (a cluster
        that cannot be reached: Unavailable) propagates, and the next call tries again."""
        self.check(name)
        with self._locks[name]:  # one build per name, even when several jobs start at once
            if name not in self._built:
                self._built[name] = self._factories[name]()
            return self._built[name]

    def close(self) -> None:
        """Close every executor built so far; a later ``get`` builds afresh."""
        for name, lock in self._locks.items():
            with lock:
                executor = self._built.pop(name, None)
            if executor is not None:
                executor.close()
