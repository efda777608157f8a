"""What the embedded Dask cluster costs by itself: CPU while idle and CPU per task, side by side.

Comparators, each a LocalCluster of 2 single-threaded worker processes on 127.0.0.1:
  (dask)   Dask's default configuration, as `LocalCluster(...)` gives it;
  (portal) the portal's embedded cluster (`portal.processing.executors.cluster.local_cluster`, EMBEDDED_CLUSTER_CONFIG).
Measured with psutil over the whole process tree (client, scheduler and nannies in this process, plus the
worker processes): CPU seconds per second while idle, and CPU per task for a batch of no-op tasks gathered the
way the engine gathers results (as they complete). Both clusters share the machine's cores with the analyses
they run, so every CPU millisecond here is taken from the analyses.

Env: BENCH_DASK_IDLE_S (default 5), BENCH_DASK_TASKS (default 200).
"""

from __future__ import annotations

import os
import time
from typing import Any

import psutil

IDLE_S = float(os.environ.get("BENCH_DASK_IDLE_S", "5"))
TASKS = int(os.environ.get("BENCH_DASK_TASKS", "200"))


def _tree_cpu() -> float:
    me = psutil.Process()
    total = 0.0
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def _noop(x: int) -> int:
    return x


def measure(client: Any) -> tuple[float, float]:
    """(idle CPU ms per s, CPU ms per task) of the process tree around ``client``'s cluster."""
    from distributed import as_completed

    client.gather(client.map(_noop, range(20), pure=False))  # workers warm, connections open
    time.sleep(1.0)
    c0 = _tree_cpu()
    time.sleep(IDLE_S)
    idle = (_tree_cpu() - c0) / IDLE_S
    c0, t0 = _tree_cpu(), time.perf_counter()
    futures = client.map(_noop, range(TASKS), pure=False)
    for batch in as_completed(futures).batches():
        client.gather(batch)
    spent = _tree_cpu() - c0 - idle * (time.perf_counter() - t0)
    return idle * 1000, spent / TASKS * 1000


def main() -> None:
    from distributed import Client, LocalCluster

    from portal.processing.executors.cluster import local_cluster

    rows = {}
    # the portal cluster first: a default nanny writes MALLOC_TRIM_THRESHOLD_ into this process' environment,
    # which worker processes started later would inherit
    for name in ("portal", "dask"):
        if name == "dask":
            cluster = LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
            )
            client = Client(cluster)
        else:
            cluster = local_cluster(2)
            client = Client(cluster, direct_to_workers=True)
        try:
            rows[name] = measure(client)
        finally:
            client.close()
            cluster.close()
    print(f"{'cluster':8} {'idle CPU ms/s':>14} {'CPU ms/task':>12}")
    for name, (idle, per_task) in rows.items():
        print(f"{name:8} {idle:14.1f} {per_task:12.2f}")
    (di, dt), (pi, pt) = rows["dask"], rows["portal"]
    print(f"\nportal/dask: idle CPU {pi / di:.2f}x, CPU per task {pt / dt:.2f}x (lower is better for us)")


if __name__ == "__main__":
    main()
