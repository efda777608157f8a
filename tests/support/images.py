"""The podman builder for the tests: one image store per checkout (``.venv/share/portal/images``, the builder's
default), so a second run of the same checkout reuses the base image and the analysis environments' images.

The tests run in a loopback-only network namespace (tests/run-isolated); image builds need Debian's mirror (for
mmdebstrap and apt.txt), so they run in the machine's namespace (``ns:/proc/1/ns/net``) while the sessions'
containers run in the tests' one, beside XRootD and JupyterHub.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from portal.environments.builders import BuildEvent, BuiltEnvironment
from portal.environments.engine import missing_tools
from portal.environments.podman_builder import PodmanBuilder

BUILD_TIMES: dict[str, float] = {}  # what each build of this session took, reported at the end


def outside_pid() -> int | None:
    """The nearest ancestor process outside the tests' network namespace (tests/run-isolated's shell, which
    entered it with `ip netns exec`), or None when the tests run in the machine's namespace."""
    ours = os.readlink("/proc/self/ns/net")
    pid = os.getppid()
    while pid > 1:
        try:
            if os.readlink(f"/proc/{pid}/ns/net") != ours:
                return pid
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
    return None


def build_network() -> str:
    """``host``, or the machine's namespace (``ns:/proc/<pid>/ns/net``) when the tests run in their own."""
    pid = outside_pid()
    return f"ns:/proc/{pid}/ns/net" if pid else "host"


def show_cgroups() -> None:
    """`ip netns exec` gives the tests a mount namespace with a fresh /sys, without the cgroup hierarchies runc
    needs to start any container; bind them back from the machine's view (in the tests' mount namespace only)."""
    pid = outside_pid()
    if pid is None or " - cgroup" in Path("/proc/self/mountinfo").read_text():
        return
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields, _, fs = line.partition(" - ")
        target = fields.split()[4]
        fstype, source, options = fs.split()[:3]
        if target == "/sys/fs/cgroup" or target.startswith("/sys/fs/cgroup/"):
            Path(target).mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "-t", fstype, "-o", options, source, target], check=True)


def require_podman() -> None:
    missing = missing_tools()
    if missing:
        pytest.skip("needs " + ", ".join(missing) + " (apt-get install -y podman runc mmdebstrap, as root)")


def make_builder() -> PodmanBuilder:
    from portal.environments.engine import DEFAULT_IMAGES_DIR

    show_cgroups()
    return PodmanBuilder(DEFAULT_IMAGES_DIR, network=build_network())


def build(builder: PodmanBuilder, repo: Path, label: str = "") -> tuple[list[BuildEvent], BuiltEnvironment]:
    events: list[BuildEvent] = []
    started = time.monotonic()
    for item in builder.build(repo):
        if isinstance(item, BuiltEnvironment):
            BUILD_TIMES[label or repo.name] = round(time.monotonic() - started, 1)
            return events, item
        events.append(item)
    raise AssertionError("no build result")
