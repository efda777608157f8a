"""One contract for every executor: inline, an embedded LocalCluster, `dask scheduler` + `dask worker` processes,
a user's cluster from a real Dask Gateway, and the slow double (so the double keeps the contract).
See portal.processing.executors.base.Executor."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.processing.executors import Executor
from portal.processing.executors.doubles import SlowExecutor
from portal.registry import EXECUTORS
from portal.settings import Settings, load_settings
from tests.support import executor_tasks as tasks
from tests.support.dask_cluster import dask_processes
from tests.support.gateway import gateway_server

WORKERS = 2


@pytest.fixture(scope="module", params=["inline", "local", "remote", "gateway", "slow"])
def executor(request: pytest.FixtureRequest) -> Iterator[Executor]:
    overrides: dict[str, object] = {"processing_workers": WORKERS}
    if request.param == "remote":
        cluster = request.getfixturevalue("remote")
        overrides["processing_scheduler"] = cluster.address
    settings = load_settings(overrides, environ={})
    if request.param == "gateway":
        settings = request.getfixturevalue("gateway")
        built = EXECUTORS.create("gateway", settings, user="contract")
        yield built
        built.close()
        return
    built = EXECUTORS.create(request.param, settings)
    if isinstance(built, SlowExecutor):
        built.delay = 0.01  # slow enough to interleave, fast enough for fifty items
    yield built
    built.close()


@pytest.fixture(scope="module")
def gateway() -> Iterator[Settings]:
    with gateway_server(gateway_max_workers=WORKERS) as (_, settings):
        yield settings


@pytest.fixture(scope="module")
def remote() -> Iterator[object]:
    with dask_processes(WORKERS) as cluster:
        yield cluster


def test_every_registered_executor_is_in_the_suite_or_a_failure_double() -> None:
    assert set(EXECUTORS.names()) == {"inline", "local", "remote", "gateway", "slow", "failing"}


def test_slots_match_what_was_started(executor: Executor) -> None:
    assert executor.slots() == (1 if executor.name in ("inline", "slow") else WORKERS)


def test_each_item_gives_its_result_once(executor: Executor) -> None:
    items = list(range(50))
    assert sorted(executor.map_unordered(tasks.square, items)) == [x * x for x in items]
    assert list(executor.map_unordered(tasks.square, [])) == []


def test_results_come_back_in_order_of_completion(executor: Executor, tmp_path: Path) -> None:
    if executor.slots() < 2:
        # one slot: tasks complete one after the other, in the order they were given
        assert list(executor.map_unordered(tasks.square, range(5))) == [0, 1, 4, 9, 16]
        return
    gate = tmp_path / "gate"
    results = executor.map_unordered(tasks.wait_for_gate, [(0, str(gate)), (1, str(gate))])
    # item 0 waits for the gate, which opens only once item 1's result is in: a later item is not held back
    assert next(results) == (1, True)
    gate.touch()
    assert list(results) == [(0, True)]


def test_closing_early_cancels_what_has_not_started(executor: Executor, tmp_path: Path) -> None:
    # each task sleeps long enough that the cancellation reaches a loaded scheduler (through the gateway's proxy)
    # before the queue has drained: the test is of cancelling, not of speed
    items = [(i, str(tmp_path), 0.25) for i in range(40)]
    results = executor.map_unordered(tasks.mark_and_sleep, items)
    next(results)
    results.close()
    # tasks queued before these follow-ups would run first if they had not been cancelled
    assert sorted(executor.map_unordered(tasks.square, range(executor.slots()))) == [
        x * x for x in range(executor.slots())
    ]
    ran = len(list(tmp_path.glob("ran-*")))
    if executor.slots() == 1:
        assert ran == 1
    else:
        assert ran <= len(items) // 2, f"{ran} of {len(items)} tasks ran after the consumer stopped at one"


def test_an_exception_in_a_task_comes_out_of_the_iterator(executor: Executor) -> None:
    with pytest.raises(ValueError, match="item 3 is bad"):
        list(executor.map_unordered(tasks.bad_three, range(6)))
    assert sorted(executor.map_unordered(tasks.bad_three, [0, 1, 2])) == [0, 1, 2]  # still usable


def test_slots_tasks_run_at_the_same_time(executor: Executor, tmp_path: Path) -> None:
    n = executor.slots()
    met = list(executor.map_unordered(tasks.meet, [(i, str(tmp_path), n) for i in range(n)]))
    assert met == [n] * n


def test_two_threads_share_one_executor(executor: Executor) -> None:
    got: dict[int, list[int]] = {}

    def run(offset: int) -> None:
        got[offset] = sorted(executor.map_unordered(tasks.square, range(offset, offset + 20)))

    threads = [threading.Thread(target=run, args=(offset,)) for offset in (0, 100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {offset: [x * x for x in range(offset, offset + 20)] for offset in (0, 100)}
