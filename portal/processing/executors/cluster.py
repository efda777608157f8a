"""Executors on a Dask cluster: an embedded LocalCluster (``local``) or an existing scheduler (``remote``).

``map_unordered`` runs one task per work item and hands results back as they complete; the engine merges
them on the client. Tasks are few and coarse (see ``plan.plan_tasks``) and the engine needs every task's
status anyway, so each result crosses the network once, to the client, and no merge tasks are scheduled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from portal.errors import Invalid, Unavailable
from portal.i18n import N_
from portal.processing.executors.base import Executor


class DaskExecutor(Executor):
    """Work on a ``distributed.Client``; tasks retry on other workers when a worker dies. ``own_cluster``, if
    given, is closed with the executor."""

    name = "dask"

    def __init__(self, client: Any, *, own_cluster: Any = None, retries: int = 3) -> None:
        self.client = client
        self._cluster = own_cluster
        self.retries = retries

    def slots(self) -> int:
        # a cluster still scaling up reports few threads: the planner then makes larger tasks, which is
        # harmless (the per-task chunk cap keeps them bounded)
        return max(1, sum(self.client.nthreads().values()))

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        from distributed import as_completed

        if not items:
            return
        futures = self.client.map(fn, list(items), retries=self.retries, pure=False)
        try:
            # one gather per batch of finished tasks rather than `fut.result()` per task: one blocking round trip
            # for all tasks that finished meanwhile. (`as_completed(with_results=True)` would fetch results in
            # the background, but can hang for good when one of its fetches fails: dask/distributed#7331.)
            # this executor's own loop: several clients live in one process (a gateway cluster per user), and the
            # default client is whichever was made last
            for batch in as_completed(futures, loop=self.client.loop).batches():
                values = self.client.gather(batch)
                for fut in batch:
                    fut.release()  # the worker may drop the result now: the client holds it
                yield from values
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


#: Dask settings for the embedded cluster. Its dashboard binds a random loopback port nobody opens, so the
#: diagnostics that feed it are switched off or slowed; together they cost ~100 ms of CPU per second on an idle
#: 2-worker cluster, a tax on the same cores the analyses run on, now ~20 ms/s (benchmarks/dask_overhead.py):
#: the workers' statistical profiler (a stack sample every 10 ms), the event-loop "tick" watchdog (20 ms, in
#: the scheduler, the nannies and the workers), the system monitor (500 ms) and the nannies' memory check
#: (100 ms; the memory limit is still enforced, within half a second). The nanny's MALLOC_TRIM_THRESHOLD_=65536
#: is dropped too: it switches off glibc's adaptive mmap threshold, so every array of a chunk (MBs) is a fresh
#: mmap whose pages fault in again and are unmapped on free; the same analysis code ran 20-35 % slower in a worker
#: than in a plain process (dimuon, ADL Q5 on the bench tier). Without it freed memory is reused; a worker's
#: memory then stays at its peak, which chunking bounds.
EMBEDDED_CLUSTER_CONFIG: dict[str, Any] = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "500ms",
}


def local_cluster(workers: int = 2) -> Any:
    """A LocalCluster of single-threaded worker processes on loopback, with EMBEDDED_CLUSTER_CONFIG."""
    import dask
    from distributed import LocalCluster

    # the nannies hand their config to the worker processes they spawn, so the settings reach the workers too
    with dask.config.set(EMBEDDED_CLUSTER_CONFIG):
        return LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
        )


class LocalClusterExecutor(DaskExecutor):
    """An embedded LocalCluster of ``processing_workers`` single-threaded worker processes on 127.0.0.1, started
    with EMBEDDED_CLUSTER_CONFIG and stopped by ``close()`` (the default executor)."""

    @classmethod
    def start(cls, workers: int = 2) -> LocalClusterExecutor:
        """Start the cluster (a few seconds) and connect to it."""
        from distributed import Client

        cluster = local_cluster(workers)
        try:
            # results come straight from the workers, not relayed through the scheduler
            client = Client(cluster, direct_to_workers=True)
        except BaseException:
            cluster.close()
            raise
        return cls(client, own_cluster=cluster)

    @classmethod
    def from_settings(cls, settings: Any, **_: Any) -> LocalClusterExecutor:
        return cls.start(settings.processing_workers)


class RemoteExecutor(DaskExecutor):
    """An existing ``dask scheduler`` at ``processing_scheduler``, whose ``dask worker`` processes can import
    ``portal``. ``close()`` disconnects; the cluster keeps running."""

    @classmethod
    def connect(cls, scheduler: str) -> RemoteExecutor:
        """Connect to the scheduler at ``scheduler`` (``tcp://host:8786``); Unavailable when it cannot be reached."""
        from distributed import Client

        if not scheduler:
            raise Invalid(
                N_(
                    "executor 'remote' needs a scheduler address (setting "
                    "processing_scheduler, or --scheduler tcp://host:8786)"
                ),
                field="PORTAL_PROCESSING_SCHEDULER",
            )
        try:
            return cls(Client(scheduler, timeout="10s"))
        except OSError as exc:
            raise Unavailable(
                N_("cannot reach Dask scheduler {scheduler}: {exc}"), scheduler=scheduler, exc=exc
            ) from exc

    @classmethod
    def from_settings(cls, settings: Any, **_: Any) -> RemoteExecutor:
        return cls.connect(settings.processing_scheduler)
