"""`portal stack` with the podman builder and DockerSpawner runs a launch end to end: the command as `make run`
starts it (web server, worker, XRootD, podman's Docker API and the embedded hub), an anonymous visitor launches an
analysis environment from its launch page, the worker builds (or finds) its image, the hub starts a container
from it, and the hub signs the visitor in through the portal to JupyterLab served from that container.

In the podman group (tests/conftest.py): it shares the checkout's image store with the other podman modules, so
the environment's image is usually built already (on a fresh machine its launch builds the base image first: the
generous timeouts are for that). Skips, naming what is missing, without podman, runc,
mmdebstrap or root."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import requests

from portal.environments.engine import DockerAPI
from portal.launch.hub import Hub, free_port
from tests.functional.test_launch import BROWSER_UA
from tests.support.images import build_network, make_builder, require_podman, show_cgroups

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

ENV = "education"


@dataclass
class RunningStack:
    url: str
    var: Path
    process: subprocess.Popen[bytes]
    log: Path


def logs(stack: RunningStack) -> str:
    """The end of the stack's output and of podman's service log, for a failure's message."""
    podman = stack.var / "podman" / "podman.log"
    return stack.log.read_text()[-3000:] + ("\npodman: " + podman.read_text()[-2000:] if podman.is_file() else "")


def wait_until_served(stack: RunningStack, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            pytest.fail(f"portal stack exited with {stack.process.returncode}:\n{logs(stack)}")
        try:
            if requests.get(f"{stack.url}/healthz", timeout=10).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # gunicorn's workers still booting
            pass
        time.sleep(0.5)
    pytest.fail(f"portal stack did not serve within {timeout} s:\n{logs(stack)}")


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    require_podman()
    show_cgroups()  # runc needs the cgroup hierarchies `ip netns exec` hides; the stack inherits this view
    root = Path(tempfile.mkdtemp(prefix="portal-stack-ctr-", dir="/var/tmp"))
    root.chmod(0o755)
    port = free_port()
    settings = {
        "PORTAL_VAR_DIR": str(root / "var"),
        "PORTAL_DATA_DIR": str(root / "data"),
        "PORTAL_HOST": "127.0.0.1",
        "PORTAL_PORT": str(port),
        "PORTAL_BASE_URL": f"http://127.0.0.1:{port}",
        "PORTAL_XROOTD_PORT": str(free_port()),
        "PORTAL_LOAD_DEMO": "false",
        "PORTAL_STATS_ENABLED": "false",
        "PORTAL_LAUNCH_BUILDER": "podman",
        "PORTAL_LAUNCH_SPAWNER": "docker",
        "PORTAL_LAUNCH_BUILD_NETWORK": build_network(),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")} | settings
    log = root / "stack.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "portal", "stack", "--no-demo"],
            env=env,
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = RunningStack(f"http://127.0.0.1:{port}", root / "var", process, log)
    try:
        wait_until_served(running)
        yield running
    finally:
        # what `make run` gets on Ctrl-C: the stack stops its worker, the hub (and the hub its containers) and
        # podman's service; the process group is killed only if that takes too long
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        subprocess.run(["cp", str(log), str(Path(tempfile.gettempdir()) / "portal-stack-ctr.log")], check=False)
        subprocess.run(["rm", "-rf", str(root)], check=False)


def test_portal_stack_launches_an_environment_in_a_container(stack: RunningStack) -> None:
    visitor = requests.Session()
    visitor.headers["User-Agent"] = BROWSER_UA
    assert visitor.get(f"{stack.url}/launch/env/{ENV}", timeout=30).status_code == 200
    events = []
    started = time.monotonic()
    with visitor.get(f"{stack.url}/launch/env/{ENV}/events", stream=True, timeout=1800) as resp:
        assert resp.status_code == 200, resp.text
        for line in resp.iter_lines(decode_unicode=True):
            if line and line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if events[-1]["phase"] in ("ready", "failed"):
                    break
    took = time.monotonic() - started
    assert events and events[-1]["phase"] == "ready", events[-5:]
    phases = [e["phase"] for e in events]
    assert "built" in phases and "launching" in phases, phases
    ready = events[-1]
    server_url = str(ready["server_url"])
    user = server_url.rstrip("/").split("/")[-2]
    assert user.startswith("anon-"), server_url

    # the hub signs the visitor in through the portal (its OAuth2 provider) and serves JupyterLab from the container
    lab = visitor.get(str(ready["url"]), timeout=60)
    assert lab.status_code == 200 and "JupyterLab" in lab.text, (lab.url, lab.status_code)

    # one container, from the podman builder's image, on podman's Docker API the stack started
    client = docker.DockerClient(base_url=f"unix://{stack.var / 'podman' / 'podman.sock'}")
    (container,) = client.containers.list(filters={"name": "portal-anon-"})  # DockerSpawner escapes the rest
    assert container.image.tags[0].startswith("localhost/portal-env:")
    assert container.attrs["HostConfig"]["NetworkMode"] == "host"
    assert container.attrs["Config"]["User"] in ("", "jovyan", "1000")  # the image's unprivileged user
    print(f"launch through `portal stack`: {took:.1f} s (events: {', '.join(dict.fromkeys(phases))})")


def test_a_hub_that_fails_to_start_leaves_no_docker_api_behind(tmp_path: Path) -> None:
    """`portal stack` starts podman's Docker API, then the hub: a hub that cannot start (its port taken) stops
    the API too, as it stops its own process, instead of leaving them running after the stack exited."""
    require_podman()
    show_cgroups()
    root = Path(tempfile.mkdtemp(prefix="pe-", dir="/var/tmp"))  # a short socket path
    try:
        api = DockerAPI(make_builder().podman, root / "podman.sock").start()
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            hub = Hub(root / "hub", port=taken.getsockname()[1], spawner="docker", docker_url=api.url, docker_api=api)
            with pytest.raises(RuntimeError, match="JupyterHub exited"):
                hub.start(timeout=120)
        assert api.process is not None and api.process.poll() is not None  # stopped with the hub
        assert hub.process is not None and hub.process.poll() is not None
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)
