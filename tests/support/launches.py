"""Set-up shared by the queued-launch tests (tests/functional/test_queued_launches.py) and the queued-build tests
(tests/functional/test_environment_builds.py): an environments directory with one environment, a portal on the
test's database that launches it with the instant builder and the recording launcher, a bounded wait, and a
`portal worker` process (a module of tests/support) killed -9 midway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from portal.app import create_app, services_of
from tests.support.waiting import wait_for

ENV = "course"  # the one environment of course_envs()


def course_envs(tmp_path: Path) -> Path:
    """``tmp_path/envs`` holding the environment ``course`` (a requirements.txt the instant builder never installs)."""
    root = tmp_path / "envs"
    (root / ENV).mkdir(parents=True)
    (root / ENV / "requirements.txt").write_text("pandas\n")
    return root


def launch_app(settings_dict: dict[str, Any], envs: Path, **overrides: Any) -> Any:
    """A portal on the test's database launching ``envs`` with doubles (no worker yet: the test starts one when it
    wants the launch or the build to run)."""
    return create_app(
        {
            **settings_dict,
            "envs_dir": str(envs),
            "launch_builder": "instant",
            "launch_launcher": "recording",
            **overrides,
        }
    )


def kill_worker_midway(app: Any, module: str, midway: Callable[[], Any], message: str) -> None:
    """Starts ``python -m module`` (a `portal worker` with a slow double, in its own process group, with ``app``'s
    settings), waits until ``midway()`` is true, then kills the whole group with SIGKILL: no goodbye, its job is
    left `running`."""
    env = {**os.environ, **services_of(app).settings.environ()}
    process = subprocess.Popen([sys.executable, "-m", module], env=env, start_new_session=True)
    try:
        wait_for(midway, message=message)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
