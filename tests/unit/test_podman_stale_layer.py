"""A podman build that failed only on buildah's stale-layer race (containers/buildah#5674) runs again."""

from collections.abc import Callable, Iterator

from portal.environments.podman_builder import RESTART, STALE_LAYER_ATTEMPTS, build_output

RACE = [
    "STEP 3/13: USER root",
    "Error: checking if cached image exists from a previous build: getting top layer info: layer not known",
    "exit 125",
]


def runs(*outputs: list[str]) -> tuple[list[int], Callable[[], Iterator[str]]]:
    calls: list[int] = []
    queue = list(outputs)

    def stream() -> Iterator[str]:
        calls.append(1)
        yield from queue.pop(0)

    return calls, stream


def test_the_race_is_built_again_and_the_attempts_are_separated() -> None:
    calls, stream = runs(RACE, ["STEP 3/13: USER root", "COMMIT", "exit 0"])
    lines = list(build_output(stream))
    assert len(calls) == 2
    assert lines == [*RACE, RESTART, "STEP 3/13: USER root", "COMMIT", "exit 0"]


def test_any_other_failure_is_not_retried() -> None:
    calls, stream = runs(["STEP 4/13: RUN pip install nope", "ERROR: No matching distribution", "exit 1"])
    assert list(build_output(stream))[-1] == "exit 1"
    assert len(calls) == 1


def test_the_retries_are_bounded_and_the_last_failure_stands() -> None:
    calls, stream = runs(*[RACE] * STALE_LAYER_ATTEMPTS)
    lines = list(build_output(stream))
    assert len(calls) == STALE_LAYER_ATTEMPTS and lines[-1] == "exit 125"
    assert lines.count(RESTART) == STALE_LAYER_ATTEMPTS - 1
