"""Two processes building one spec at once: the second waits for the first and reuses its build instead of
removing the partial directory the first is writing (seen in CI as a missing ``image.json``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from portal.environments.builders import Builder, BuildEvent, BuiltEnvironment
from portal.environments.spec import EnvironmentSpec


class SlowBuilder(Builder):
    """Writes its output in two steps with a pause between, as a real build does over minutes."""

    name = "slow"
    runs = 0

    def _build(self, spec: EnvironmentSpec, workdir: Path, target: Path) -> Iterator[BuildEvent]:
        type(self).runs += 1
        (workdir / "first").write_text("1")
        time.sleep(0.3)
        (workdir / "second").write_text("2")  # fails if another build removed workdir meanwhile
        yield BuildEvent("building", "done", {})

    def _result(self, key: str, record: dict[str, object]) -> BuiltEnvironment:
        path = self.cache_dir / key
        assert (path / "first").is_file() and (path / "second").is_file()
        return BuiltEnvironment(key, self.name, path, None, False, record)


def test_concurrent_builds_of_one_spec_build_once_and_both_get_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "requirements.txt").write_text("numpy\n")
    results: list[tuple[list[bool], BuiltEnvironment]] = []
    errors: list[BaseException] = []

    def build() -> None:
        try:
            events = list(SlowBuilder(tmp_path / "cache").build(repo))  # a builder object per "process"
            cached = [bool(e.data.get("cached")) for e in events if isinstance(e, BuildEvent) and e.phase == "built"]
            results.append((cached, events[-1]))  # type: ignore[arg-type]
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert SlowBuilder.runs == 1
    assert sorted(cached for cached, _ in results) == [[False], [True]]
    assert results[0][1].key == results[1][1].key
