"""A lesson launched through the portal runs in a container: the podman builder's image of its environment,
started by JupyterHub's DockerSpawner on podman's Docker API, in the tests' network namespace beside XRootD.

Inside, the session reads the lesson's dataset over root://, cannot open the portal's database (nothing of the
portal's var or data directory is mounted but the lesson's own data files, read-only), runs as the image's
unprivileged user and sees only its environment's packages. Skips, naming what is missing, without podman, runc,
mmdebstrap, root or the xrootd server."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from portal.app import create_app
from portal.catalog.importers import read_record_file
from portal.db.models import EnvironmentPin
from portal.demo import RECORDS as DEMO_RECORDS
from portal.demo.generate import generate
from portal.education.lessons import lesson_record
from portal.environments.engine import DockerAPI
from portal.launch.hub import Hub
from portal.launch.jupyterhub import sessions_dir
from portal.launch.kinds import LessonLaunch
from portal.settings import load_settings
from tests.support.app import start_worker
from tests.support.images import build_network, make_builder, require_podman
from tests.support.jupyter import run_code
from tests.support.xrootd import require_xrootd, xrootd_over

pytestmark = [pytest.mark.slow, pytest.mark.xrootd, pytest.mark.timeout(1800)]

LESSON = "z-mass-fit"  # hep-analysis: uproot and the XRootD client


@dataclass
class Stack:
    app: object
    hub: Hub
    api: DockerAPI
    var: Path


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    require_podman()
    require_xrootd()
    root = Path(tempfile.mkdtemp(prefix="portal-ctr-", dir="/var/tmp"))
    root.chmod(0o755)
    data = root / "data"
    generate("tiny", data / "cms-dimuon-demo", formats=("root",))
    builder = make_builder()
    try:
        with xrootd_over(data) as xrootd:
            var = root / "var"
            settings = load_settings(
                {
                    "var_dir": str(var),
                    "data_dir": str(data),
                    "xrootd_url": xrootd.url,
                    "xrootd_export": data.name,
                    "launch_builder": "podman",
                    "launch_build_network": build_network(),
                    "launch_spawner": "docker",
                    "stats_enabled": False,
                },
                environ={},
            )
            api = DockerAPI(builder.podman, var / "podman" / "podman.sock").start()
            hub = Hub(
                var / "jupyterhub",
                spawner="docker",
                docker_url=api.url,
                docker_api=api,
                homes=sessions_dir(settings),
                mount_roots=(str(data),),
                cpu_limit=1.0,
                mem_limit="1G",
            )
            try:
                hub.start()
                app = create_app(settings.with_overrides(launch_hub_url=hub.url, launch_hub_token=hub.token))
                start_worker(app)  # environment builds are queue jobs: a worker runs them
                svc = app.extensions["portal"]
                svc.catalog.load(read_record_file(DEMO_RECORDS / "demo-catalogue.yaml"))
                svc.catalog.load([lesson_record(svc.lessons.find(LESSON))])
                yield Stack(app, hub, api, var)
            finally:
                hub.stop()
                if (var / "jupyterhub" / "jupyterhub.log").exists():  # kept for a failure's post-mortem
                    shutil.copy(
                        var / "jupyterhub" / "jupyterhub.log", Path(tempfile.gettempdir()) / "portal-ctr-hub.log"
                    )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def launch(stack: Stack, user: str) -> list[dict[str, object]]:
    job = stack.app.extensions["portal"].launches.start(LessonLaunch(LESSON), user=user)  # type: ignore[attr-defined]
    events = []
    for event in job.stream(heartbeat=5):
        if event is not None:
            events.append(event)
    assert events[-1]["phase"] == "ready", events[-5:]
    return events


PROBE = """
import json, os, sys
def attempt(action):
    try:
        action()
        return "allowed"
    except Exception as exc:
        return type(exc).__name__
import uproot
with uproot.open(os.environ["LESSON_ROOT_FILE"]) as f:
    events = f["Events"].num_entries
print(json.dumps({
    "uid": os.getuid(),
    "prefix": sys.prefix,
    "root_url": os.environ["LESSON_ROOT_FILE"],
    "events": events,
    "portal database": attempt(lambda: open(%(db)r, "rb")),
    "portal var": attempt(lambda: os.listdir(%(var)r)),
    "flask": attempt(lambda: __import__("flask")),
    "data": sorted(os.listdir(os.environ["LESSON_DATA"])),
    "write data": attempt(lambda: open(os.path.join(os.environ["LESSON_DATA"], "x"), "w")),
    "fileset": json.load(open(os.environ["PORTAL_FILESET"]))["recid"],
    "notebook": os.path.exists("/home/jovyan/work/notebook.ipynb"),
    "cgroup": {name: open(path).read().strip() if os.path.exists(path) else None for name, path in {
        "memory": "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "cpu quota": "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        "cpu period": "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
    }.items()},
}))
"""


def test_a_lesson_launch_runs_in_a_container_that_reads_root_and_nothing_of_the_portal(stack: Stack) -> None:
    events = launch(stack, "student")
    ready = events[-1]
    assert any(e["phase"] == "built" for e in events)
    probe = PROBE % {"db": str(stack.var / "portal.sqlite"), "var": str(stack.var)}
    seen = json.loads(run_code(str(ready["server_url"]), stack.hub.token, probe).strip().splitlines()[-1])
    assert seen["root_url"].startswith("root://") and seen["events"] > 0, seen
    assert (stack.var / "portal.sqlite").exists()  # there on the host, absent in the container
    assert seen["portal database"] == "FileNotFoundError" and seen["portal var"] == "FileNotFoundError"
    assert seen["flask"] == "ModuleNotFoundError"  # the portal's packages are not the environment's
    assert seen["uid"] == 1000 and seen["prefix"] == "/opt/env"
    assert seen["data"] == ["nanoaod_000.root"] and seen["write data"] in ("OSError", "PermissionError")
    assert seen["fileset"] == stack.app.extensions["portal"].lessons.find(LESSON).recid  # type: ignore[attr-defined]
    assert seen["notebook"] is True
    # the limits hold inside (cgroup v1 here: the container sees its own memory and cpu hierarchies)
    assert seen["cgroup"] == {"memory": str(2**30), "cpu quota": "100000", "cpu period": "100000"}, seen["cgroup"]

    # one container per named server, from the environment's image, with the limits the settings ask for
    client = docker.DockerClient(base_url=stack.api.url)
    server = str(ready["server_url"]).rstrip("/").split("/")[-1]
    (container,) = client.containers.list(filters={"name": "portal-student--"})  # the name is escaped
    assert container.image.tags[0].startswith("localhost/portal-env:")
    host = container.attrs["HostConfig"]
    assert host["NetworkMode"] == "host" and host["Memory"] == 2**30 and host["CpuQuota"] == 100_000
    mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
    assert set(mounts) == {"/home/jovyan/work", "/srv/data/nanoaod_000.root"}, mounts
    assert mounts["/srv/data/nanoaod_000.root"]["RW"] is False

    # a second launch of the same lesson by the same person reuses the running server
    again = launch(stack, "student")
    assert again[-1]["server_url"] == ready["server_url"]
    # the lesson record is pinned to the image its first launch ran, and the launch page says it relaunches it
    svc = stack.app.extensions["portal"]  # type: ignore[attr-defined]
    recid = svc.lessons.find(LESSON).recid
    with svc.db.reader() as s:
        pin = s.get(EnvironmentPin, recid)
        assert pin is not None and pin.image == container.image.tags[0]
        assert pin.image_digest == container.image.id  # the image's id: a digest of its content
    pinned = [e for e in again if e.get("pinned")]
    assert [e["pinned"] for e in pinned] == ["cached"], again
    assert f"record {recid} is pinned to build" in str(pinned[0]["message"])
    assert "relaunching the pinned image" in str(pinned[0]["message"])
    stack.app.extensions["portal"].launches.launcher.stop("student", server)  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and client.containers.list(all=True, filters={"name": container.name}):
        time.sleep(0.5)
    assert not client.containers.list(all=True, filters={"name": container.name})  # stopped and removed
