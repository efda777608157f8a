"""Small task functions for the executor contract suite, importable by Dask worker processes."""

from __future__ import annotations

import time
from pathlib import Path

#: how long a task waits for a condition the test sets up; only reached when the contract is broken
WAIT_S = 120.0


def square(x: int) -> int:
    return x * x


def bad_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"item {x} is bad")
    return x


def wait_for_gate(item: tuple[int, str]) -> tuple[int, bool]:
    """Item 0 waits until the file ``gate`` exists (the test creates it once it got every other result);
    returns (index, whether the gate was open)."""
    index, gate = item
    if index != 0:
        return index, True
    deadline = time.monotonic() + WAIT_S
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return index, Path(gate).exists()


def mark_and_sleep(item: tuple[int, str, float]) -> int:
    """Leave a file ``ran-<index>`` in ``folder``, then sleep ``seconds``."""
    index, folder, seconds = item
    (Path(folder) / f"ran-{index}").touch()
    time.sleep(seconds)
    return index


def meet(item: tuple[int, str, int]) -> int:
    """Leave ``started-<index>`` in ``folder`` and wait until ``n`` tasks have; returns how many had."""
    index, folder, n = item
    (Path(folder) / f"started-{index}").touch()
    deadline = time.monotonic() + WAIT_S
    while len(list(Path(folder).glob("started-*"))) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(list(Path(folder).glob("started-*")))


def timed_sleep(item: tuple[int, float]) -> tuple[int, float, float]:
    """Sleep ``seconds``; returns (index, start, end) wall-clock times, to see which tasks overlapped."""
    index, seconds = item
    start = time.time()
    time.sleep(seconds)
    return index, start, time.time()
