"""A `portal worker` process whose hub takes minutes to start a server: run as
``python -m tests.support.slow_launch_worker`` with the app's ``PORTAL_*`` environment, to be killed -9 mid-launch.

It is the real worker on the real queue and database; only its launcher is slowed (the recording launcher's
sessions directory, progress every half second), so a test can tell "launching" from "ready" without racing.
"""

from __future__ import annotations


def main() -> None:
    import logging

    from portal.jobqueue.worker import Worker
    from portal.launch.doubles import RecordingLauncher, SlowLauncher
    from portal.services import build_services
    from portal.settings import load_settings

    logging.basicConfig(level=logging.INFO)
    settings = load_settings()
    services = build_services(settings)
    assert services.launches is not None and isinstance(services.launches.launcher, RecordingLauncher)
    services.launches.launcher = SlowLauncher(services.launches.launcher.work_root, delay=300.0, step=0.5)
    worker = Worker(services, concurrency=2, poll_interval=0.1, heartbeat_timeout=settings.worker_heartbeat_timeout)
    worker.start().wait()  # until killed


if __name__ == "__main__":
    main()
