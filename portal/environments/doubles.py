"""Builder doubles for unit tests and failure modes: one that builds instantly, one whose every build fails."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from portal.environments.builders import Builder, BuildEvent, BuildFailed, BuiltEnvironment
from portal.environments.spec import EnvironmentSpec
from portal.errors import Notice
from portal.i18n import N_


class InstantBuilder(Builder):
    """Builds nothing: every environment is the portal's own interpreter. Keys, cache and events as a real build."""

    name = "instant"
    version = "1"
    development_only = True

    def unsupported(self, spec: EnvironmentSpec) -> list[Notice]:
        if not spec.files:
            return []
        files = ", ".join(sorted(spec.files))
        return [Notice(N_("{files} not installed: the instant builder runs the portal's interpreter"), files=files)]

    def _result(self, key: str, record: dict[str, object]) -> BuiltEnvironment:
        return BuiltEnvironment(
            key=key,
            builder=self.name,
            path=self.cache_dir / key,
            python=Path(sys.executable),
            image_built=False,
            record=record,
        )

    def _build(self, spec: EnvironmentSpec, workdir: Path, target: Path) -> Iterator[BuildEvent]:
        yield BuildEvent("building", f"nothing to build: sessions run {sys.executable}")


class FailingBuilder(InstantBuilder):
    """Fails every build after its first step, as a build whose pinned package does not exist would."""

    name = "failing"
    #: a message id, so a failed launch's stream shows it in the reader's language as a real build's failure
    REASON = N_("the failing builder fails every build (a double for failure modes)")

    def __init__(self, cache_dir: Path, reason: str = REASON) -> None:
        super().__init__(cache_dir)
        self.reason = reason

    def _build(self, spec: EnvironmentSpec, workdir: Path, target: Path) -> Iterator[BuildEvent]:
        yield BuildEvent("building", "installing requirements")
        raise BuildFailed(self.reason)
