"""Dask Gateway on one machine, as the embedded stack runs it: a real `dask-gateway-server` with its local
process backend. Each person's analyses run on a cluster of their own; work beyond a person's worker limit
queues on their cluster instead of starting more; an analysis job on the gateway gives the exact bins."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from portal.app import create_app, services_of
from portal.catalog.model import RecordInput
from portal.demo.generate import generate
from portal.registry import EXECUTORS
from portal.settings import Settings
from tests.support import executor_tasks as tasks
from tests.support.gateway import gateway_server
from tests.support.processing_reference import reference


@pytest.fixture(scope="module")
def gateway() -> Iterator[Settings]:
    with gateway_server(gateway_max_workers=1) as (_, settings):
        yield settings


def test_each_user_gets_a_cluster_of_their_own_and_work_beyond_the_limit_queues(gateway: Settings) -> None:
    alice = EXECUTORS.create("gateway", gateway, user="alice")
    bob = EXECUTORS.create("gateway", gateway, user="bob")
    try:
        assert alice.cluster.name != bob.cluster.name
        assert alice.client.scheduler.address != bob.client.scheduler.address
        assert alice.slots() == bob.slots() == 1  # the per-user limit: one single-core worker
        # three concurrent requests of one user on a one-worker cluster: they queue and run one at a time
        results: list[tuple[int, float, float]] = []

        def run(i: int) -> None:
            results.extend(alice.map_unordered(tasks.timed_sleep, [(i, 0.5)]))

        threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        assert sorted(bob.map_unordered(tasks.square, range(4))) == [0, 1, 4, 9]  # bob is not held up
        for t in threads:
            t.join(120)
        spans = sorted((start, end) for _, start, end in results)
        assert len(spans) == 3
        assert all(later[0] >= earlier[1] - 0.05 for earlier, later in zip(spans, spans[1:], strict=False))
    finally:
        alice.close()
        bob.close()


def test_an_analysis_job_on_the_gateway_gives_the_exact_bins(gateway: Settings, tmp_path: Path) -> None:
    data = tmp_path / "tiny"
    generate("tiny", data, formats=("root",))
    files = sorted(data.glob("*.root"))
    counts, cutflow = reference("dimuon", [str(p) for p in files])
    app = create_app(
        {
            "database_url": f"sqlite:///{tmp_path / 'portal.sqlite'}",
            "var_dir": str(tmp_path / "var"),
            "gateway_url": gateway.gateway_url,
            "gateway_password": gateway.gateway_password or Path(gateway.var_dir, "gateway", "password").read_text(),
            "processing_chunk_events": 2000,
            # as many workers as the gateway grants (asking for more is tested in test_gateway_hub.py)
            "gateway_max_workers": gateway.gateway_max_workers,
        }
    )
    svc = services_of(app)
    assert svc.analyses is not None
    rows = [{"key": p.name, "uri": f"file://{p}", "size": p.stat().st_size} for p in files]
    svc.catalog.load(
        [
            RecordInput(
                {
                    "recid": 5001,
                    "title": "Tiny NanoAOD-like events",
                    "type": {"primary": "Dataset", "secondary": ["Collision"]},
                    "experiment": ["CMS"],
                    "date_published": "2024-05-01",
                },
                files=rows,
            )
        ]
    )
    job = svc.analyses.create("dimuon", 5001, executor="gateway", enqueue=False)  # run here, not by a worker
    done = svc.analyses.run(job.id)
    assert done.state == "done", done.error
    assert done.result is not None and done.provenance is not None
    assert "gateway" in str(done.provenance["executor"])
    assert done.result["cutflow"] == cutflow
    for name, want in counts.items():
        assert np.array_equal(np.asarray(done.result["hists"][name]["counts_with_flow"])[1:-1], want), name
    services_of(app).close()
    shutil.rmtree(data, ignore_errors=True)


def test_a_cluster_shut_down_under_the_pool_is_replaced_at_the_next_job(gateway: Settings) -> None:
    from dask_gateway import BasicAuth, Gateway

    from portal.processing.executors.gateway import forget_loop
    from portal.processing.executors.pool import ExecutorPool
    from portal.processing.gateway import gateway_password

    pool = ExecutorPool(
        {"gateway": lambda user: EXECUTORS.create("gateway", gateway, user=user)}, frozenset({"gateway"})
    )
    try:
        first = pool.get("gateway", "carol")
        assert sorted(first.map_unordered(tasks.square, range(3))) == [0, 1, 4]
        assert pool.get("gateway", "carol") is first and first.alive()
        # the idle timeout, or carol's notebook, shuts her cluster down behind the portal's back
        outside = Gateway(gateway.gateway_url, auth=BasicAuth("carol", gateway_password(gateway)))
        try:
            outside.stop_cluster(first.cluster.name)
        finally:
            outside.close()
            forget_loop(outside)
        assert not first.alive()
        second = pool.get("gateway", "carol")
        assert second is not first and second.cluster.name != first.cluster.name
        assert sorted(second.map_unordered(tasks.square, range(3))) == [0, 1, 4]
    finally:
        pool.close()
