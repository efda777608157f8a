"""A `portal worker` process whose builder takes minutes: run as ``python -m tests.support.slow_build_worker`` with
the app's ``PORTAL_*`` environment, to be killed -9 mid-build by a test.

It is the real worker on the real queue and database; only its builder is slowed (the instant builder's keys and
cache, with a pause between events), so a test can tell "running" from "done" without racing a fast build.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from portal.environments.builders import BuildEvent
from portal.environments.doubles import InstantBuilder
from portal.environments.spec import EnvironmentSpec


class SlowBuilder(InstantBuilder):
    """The instant builder (same name and version, so the same keys and cache) that takes ``seconds`` to build."""

    seconds = 300.0

    def _build(self, spec: EnvironmentSpec, workdir: Path, target: Path) -> Iterator[BuildEvent]:
        yield BuildEvent("building", "slow build started")
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            time.sleep(0.5)
            yield BuildEvent("building", "still building")


def main() -> None:
    import logging

    from portal.jobqueue.worker import Worker
    from portal.services import build_services
    from portal.settings import load_settings

    logging.basicConfig(level=logging.INFO)
    settings = load_settings()
    services = build_services(settings)
    assert services.launches is not None
    services.launches.builder = SlowBuilder(services.launches.builder.cache_dir)
    worker = Worker(services, concurrency=1, poll_interval=0.1, heartbeat_timeout=settings.worker_heartbeat_timeout)
    worker.start().wait()  # until killed


if __name__ == "__main__":
    main()
