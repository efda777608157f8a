"""The executor seam without a cluster: registration, the names jobs may ask for, and the doubles' behaviour."""

from __future__ import annotations

import logging

import pytest

from portal.errors import Invalid
from portal.processing.executors import Executor
from portal.processing.executors.doubles import FailingExecutor, SlowExecutor, TaskFailed
from portal.registry import EXECUTORS
from portal.services import build_executors, executor_names
from portal.settings import load_settings


def test_every_executor_is_registered_with_a_factory_and_only_doubles_are_development_only():
    assert EXECUTORS.names() == ["failing", "gateway", "inline", "local", "remote", "slow"]
    for name in EXECUTORS.names():
        cls = EXECUTORS.load(name)
        assert issubclass(cls, Executor) and "from_settings" in vars(cls), name
        assert getattr(cls, "development_only", False) == (name in ("failing", "slow")), name


def test_jobs_may_ask_for_the_real_executors_and_the_configured_default():
    assert executor_names(load_settings(environ={})) == ["gateway", "inline", "local", "remote"]
    assert executor_names(load_settings({"processing_executor": "slow"}, environ={})) == [
        "gateway",
        "inline",
        "local",
        "remote",
        "slow",
    ]
    with pytest.raises(Invalid) as err:
        executor_names(load_settings({"processing_executor": "gpu"}, environ={}))
    assert err.value.field == "PORTAL_PROCESSING_EXECUTOR"
    assert "choose one of: failing, gateway, inline, local, remote, slow" in err.value.message


def test_the_pool_builds_nothing_until_a_job_asks(caplog):
    pool = build_executors(load_settings({"processing_executor": "failing"}, environ={}))
    assert pool.names() == ["failing", "gateway", "inline", "local", "remote"]
    with caplog.at_level(logging.WARNING, logger="portal.registry"):
        assert isinstance(pool.get("failing"), FailingExecutor)
    assert "NOT FOR PRODUCTION" in caplog.text
    pool.close()


def test_remote_without_a_scheduler_names_the_setting():
    pool = build_executors(load_settings({"processing_scheduler": ""}, environ={}))
    with pytest.raises(Invalid, match="needs a scheduler address") as err:
        pool.get("remote")
    assert err.value.field == "PORTAL_PROCESSING_SCHEDULER"


def test_the_failing_executor_names_the_item_and_runs_nothing():
    ran: list[int] = []
    with pytest.raises(TaskFailed, match=r"failed the task \('file-a\.root', 0\)"):
        list(FailingExecutor().map_unordered(ran.append, [("file-a.root", 0), ("file-b.root", 1)]))
    assert ran == []
    long = "x" * 1000
    with pytest.raises(TaskFailed) as err:
        next(FailingExecutor().map_unordered(str, [long]))
    assert len(str(err.value)) < 400 and str(err.value).endswith("...")


def test_the_slow_executor_runs_each_task_after_its_delay(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("portal.processing.executors.doubles.time.sleep", slept.append)
    results = SlowExecutor(delay=0.25).map_unordered(lambda x: x + 1, [1, 2, 3])
    assert next(results) == 2 and slept == [0.25]
    assert list(results) == [3, 4] and slept == [0.25] * 3
    assert SlowExecutor.from_settings(load_settings(environ={})).delay == 0.5
