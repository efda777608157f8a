"""Executors behind one interface: inline (debugging), a Dask LocalCluster, or a remote Dask scheduler.

``map_reduce`` runs one task per work item and merges results by a streaming tree reduction: as soon as two
partial results are ready, a merge task combining them is submitted on the cluster, so the client never holds
more than the final result and progress is known chunk by chunk.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from portal.errors import Invalid, Unavailable

EXECUTORS = ("inline", "local", "remote")


class Executor:
    name = "base"

    def map_reduce(self, fn: Callable[[Any], Any], items: Sequence[Any],
                   accept: Callable[[int, Any], bool], merge: Callable[[Any, Any], Any] = operator.add,
                   ) -> Any:
        """Run ``fn(item)`` for each item; ``accept(index, value)`` is told of each completed item (progress,
        failures) and says whether the value enters the reduction; returns the merge of accepted values or
        None when none was accepted."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InlineExecutor(Executor):
    name = "inline"

    def map_reduce(self, fn: Callable[[Any], Any], items: Sequence[Any], accept: Callable[[int, Any], bool],
                   merge: Callable[[Any, Any], Any] = operator.add) -> Any:
        total = None
        for i, item in enumerate(items):
            value = fn(item)
            if accept(i, value):
                total = value if total is None else merge(total, value)
        return total


def _pick(value: Any, _ignored: Any = None) -> Any:
    return value


class DaskExecutor(Executor):
    """Work on a ``distributed.Client``; tasks retry on other workers when a worker dies."""

    name = "dask"

    def __init__(self, client: Any, *, own_cluster: Any = None, retries: int = 3) -> None:
        self.client = client
        self._cluster = own_cluster
        self.retries = retries

    def map_reduce(self, fn: Callable[[Any], Any], items: Sequence[Any], accept: Callable[[int, Any], bool],
                   merge: Callable[[Any, Any], Any] = operator.add) -> Any:
        from distributed import as_completed
        if not items:
            return None
        futures = self.client.map(fn, list(items), retries=self.retries, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        ready: list[Any] = []
        pending = as_completed(futures, with_results=False)
        # Only the tiny "accept" decision needs the value on the client; results that pass are merged remotely.
        for fut in pending:
            if fut.key in index:
                i = index.pop(fut.key)
                value = fut.result()
                if not accept(i, value):
                    continue
            ready.append(fut)
            while len(ready) >= 2:
                a, b = ready.pop(), ready.pop()
                pending.add(self.client.submit(merge, a, b, retries=self.retries, pure=False))
        return ready[0].result() if ready else None

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def local_cluster(workers: int = 2) -> Any:
    from distributed import LocalCluster
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                        dashboard_address="127.0.0.1:0")


def make_executor(name: str, *, workers: int = 2, scheduler: str = "", client: Any = None) -> Executor:
    """``inline`` | ``local`` (a LocalCluster of ``workers`` processes) | ``remote`` (``scheduler`` address)."""
    if client is not None:
        return DaskExecutor(client)
    if name == "inline":
        return InlineExecutor()
    from distributed import Client
    if name == "local":
        cluster = local_cluster(workers)
        return DaskExecutor(Client(cluster), own_cluster=cluster)
    if name == "remote":
        if not scheduler:
            raise Invalid("executor 'remote' needs a scheduler address (setting processing_scheduler, "
                          "or --scheduler tcp://host:8786)")
        try:
            return DaskExecutor(Client(scheduler, timeout="10s"))
        except OSError as exc:
            raise Unavailable(f"cannot reach Dask scheduler {scheduler}: {exc}") from exc
    raise Invalid(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")


def iter_items(items: Iterable[Any]) -> list[Any]:
    return list(items)
