"""tests/support/waiting.py: the shared wait_for returns the first truthy value, and its failure names what was
awaited and the last value seen; exceptions it is told to ignore mean "not yet", any other propagates."""

from __future__ import annotations

import itertools

import pytest

from tests.support.waiting import wait_for


def test_it_returns_the_first_truthy_value() -> None:
    values = iter([None, 0, {}, {"state": "done"}, {"state": "later"}])
    assert wait_for(lambda: next(values), timeout=5, interval=0.001) == {"state": "done"}


def test_giving_up_names_what_was_awaited_and_the_last_value_seen() -> None:
    counter = itertools.count()
    with pytest.raises(AssertionError) as raised:
        wait_for(lambda: next(counter) < 0 and "never", timeout=0.05, message="the job ended", interval=0.01)
    said = str(raised.value)
    assert "gave up waiting after 0.05 s for the job ended" in said and "last seen: False" in said


def test_a_long_last_value_is_cut_short() -> None:
    class Pending:  # a falsy value with a long repr, as a job's JSON can be
        def __bool__(self) -> bool:
            return False

        def __repr__(self) -> str:
            return "p" * 5000

    with pytest.raises(AssertionError) as raised:
        wait_for(Pending, timeout=0.01, message="x", interval=0.01)
    said = str(raised.value)
    assert said.endswith("p" * 500 + "...") and len(said) < 600


def test_ignored_exceptions_mean_not_yet_and_others_propagate() -> None:
    calls = itertools.count()

    def starting() -> str:
        if next(calls) < 3:
            raise ConnectionError("refused")
        return "up"

    assert wait_for(starting, timeout=5, interval=0.001, ignoring=(ConnectionError,)) == "up"
    with pytest.raises(AssertionError, match="last seen: ConnectionError"):
        wait_for(lambda: (_ for _ in ()).throw(ConnectionError("refused")), 0.02, "up", ignoring=(ConnectionError,))
    with pytest.raises(ValueError, match="broken"):
        wait_for(lambda: (_ for _ in ()).throw(ValueError("broken")), 5, ignoring=(ConnectionError,))
