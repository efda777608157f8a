"""The executors a process offers its jobs, by name, each built on first use and then shared."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping

from portal.errors import Invalid
from portal.i18n import N_
from portal.processing.executors.base import Executor

log = logging.getLogger(__name__)


class ExecutorPool:
    """Named executor factories; ``get(name)`` builds that executor on first use and hands the same one to every
    later job (an embedded cluster starts once, a scheduler is connected to once). ``close()`` closes all built.

    :mod:`portal.services` fills the pool from the ``portal.executors`` registry; tests fill it with doubles.
    """

    def __init__(
        self, factories: Mapping[str, Callable[..., Executor]], per_user: frozenset[str] = frozenset()
    ) -> None:
        """``per_user``: the names whose executor is one per user (a gateway cluster each): their factory takes
        ``user=`` and ``get`` builds and keeps one executor per user."""
        self._factories = dict(factories)
        self._per_user = per_user
        self._built: dict[str, Executor] = {}
        # one lock per executor: a cluster starting (seconds) does not hold up jobs on another executor
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def names(self) -> list[str]:
        """The names a job may ask for, sorted."""
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def check(self, name: str) -> None:
        """Invalid (field ``executor``) listing the choices, unless ``name`` is one of them."""
        if name not in self._factories:
            raise Invalid(
                N_("unknown executor {name!r}; choose one of {names}"),
                name=name,
                names=", ".join(self.names()),
                field="executor",
            )

    def get(self, name: str, user: str | None = None) -> Executor:
        """The executor called ``name`` (for ``user``, when it is one per user), built now if this is its first
        use. What building raises (a cluster that cannot be reached: Unavailable) propagates, and the next call
        tries again."""
        self.check(name)
        per_user = name in self._per_user
        key = f"{name}\0{user or ''}" if per_user else name
        with self._locks_lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one build per executor, even when several jobs start at once
            stale = self._built.get(key)
            if stale is not None and not stale.alive():
                log.warning(
                    "executor %s%s is gone (its cluster was shut down): building a new one",
                    name,
                    f" of {user}" if per_user else "",
                )
                del self._built[key]
                with contextlib.suppress(Exception):  # closing what is already gone may fail in many ways
                    stale.close()
            if key not in self._built:
                factory = self._factories[name]
                self._built[key] = factory(user=user) if per_user else factory()
            return self._built[key]

    def close(self) -> None:
        """Close every executor built so far; a later ``get`` builds afresh."""
        with self._locks_lock:
            locks = list(self._locks.items())
        for key, lock in locks:
            with lock:
                executor = self._built.pop(key, None)
            if executor is not None:
                executor.close()
