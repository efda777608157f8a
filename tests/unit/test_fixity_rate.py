"""The fixity audit's read limit: it sleeps exactly enough to keep the average rate at or below the limit."""

from __future__ import annotations

import pytest

from portal.preservation.fixity import RateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_reads_faster_than_the_limit_are_slowed_to_it():
    t = FakeTime()
    limiter = RateLimiter(5_000_000, sleep=t.sleep, clock=t.clock)  # 5 MB/s
    for _ in range(10):
        limiter.consumed(1_000_000)  # 10 MB, each block read in no time
    assert t.now - 100.0 == pytest.approx(2.0)  # 10 MB at 5 MB/s
    assert len(t.slept) == 10


def test_slow_reads_are_not_slowed_further():
    t = FakeTime()
    limiter = RateLimiter(5_000_000, sleep=t.sleep, clock=t.clock)
    for _ in range(3):
        t.now += 1.0  # 1 MB/s: below the limit
        limiter.consumed(1_000_000)
    assert t.slept == []


def test_no_limit_never_sleeps():
    t = FakeTime()
    limiter = RateLimiter(None, sleep=t.sleep, clock=t.clock)
    limiter.consumed(10**12)
    assert t.slept == [] and limiter.done == 10**12
