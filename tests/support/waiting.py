"""Polling for a condition a worker, server or thread brings about: the one ``wait_for`` the tests share.

The timeout bounds a wait (a worker on a loaded machine may take long); it is not a timed assertion. When it runs
out the failure says what was awaited and the last value seen, so a red run tells a stuck job from a slow one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: how much of the last value a failure message shows (a job's JSON can be long)
SHOWN_CHARS = 500


def wait_for(
    what: Callable[[], T],
    timeout: float = 60,
    message: str = "",
    *,
    interval: float = 0.05,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``what()`` every ``interval`` seconds until it returns something truthy, and return that.

    ``message`` names what is awaited. ``ignoring``: exceptions that mean "not yet" (a server still starting
    refuses connections); any other exception propagates at once. After ``timeout`` seconds: AssertionError
    naming ``message`` and the last value (or ignored exception) seen."""
    deadline = time.monotonic() + timeout
    while True:
        last: object
        try:
            found = what()
        except ignoring as exc:
            last = exc
        else:
            if found:
                return found
            last = found
        if time.monotonic() >= deadline:
            seen = repr(last)
            if len(seen) > SHOWN_CHARS:
                seen = seen[:SHOWN_CHARS] + "..."
            raise AssertionError(f"gave up waiting after {timeout} s for {message or repr(what)}; last seen: {seen}")
        time.sleep(interval)
