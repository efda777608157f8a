"""`portal stack --distributed` (the part a job needs: its own PostgreSQL server, 2 web processes sharing one port,
2 `portal worker` processes): an analysis started over HTTP still finishes with the exact bins after the web
process and the worker running it are killed -9 mid-job. With its JupyterHub and Dask Gateway on, both answer and
are wired to the portal's processes (the hub's OAuth client and service token; an analysis on the user's gateway
cluster)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from portal.catalog.model import RecordInput
from portal.db.server import pg_bindir
from portal.demo.generate import generate
from portal.distributed import DistributedStack
from portal.identity.principal import COMMAND_LINE
from portal.services import Services, build_services
from portal.settings import load_settings
from portal.stack import stop_process
from portal.storage.server import free_port
from tests.support.processing_reference import reference
from tests.support.waiting import wait_for

DATASET = 5001
pytestmark = pytest.mark.skipif(pg_bindir() is None, reason="PostgreSQL server binaries not installed")


@pytest.fixture
def stack_dir() -> Iterator[Path]:
    # outside pytest's 0700 temporary tree: the `postgres` user must reach the cluster's directory
    root = Path(tempfile.mkdtemp(prefix="portal-distributed-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _http(method: str, url: str, token: str, body: dict | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


@dataclass
class Running:
    """A started stack, services of the test's own on its database, and the tiny dataset's exact bins."""

    stack: DistributedStack
    svc: Services
    files: list[Path]
    expected: tuple[dict, dict]  # the dimuon histograms and cutflow, computed in the test process

    def start_dimuon(self) -> tuple[int, str, int]:
        """The tiny dataset loaded, jane and her token made, and her dimuon analysis of it posted over HTTP:
        (her id, her token, the job's id)."""
        rows = [{"key": p.name, "uri": f"file://{p}", "size": p.stat().st_size} for p in self.files]
        base = {"type": {"primary": "Dataset"}, "date_published": "2024-05-01", "title": "Tiny events"}
        self.svc.catalog.load([RecordInput({**base, "recid": DATASET}, files=rows)])
        jane = self.svc.users.create(COMMAND_LINE, "jane")
        _info, token = self.svc.tokens.create(COMMAND_LINE, jane.id, "test", ["analyses:run"], expires_in_days=1)
        posted = _http("POST", f"{self.stack.url}/api/analyses", token, {"analysis": "dimuon", "dataset": DATASET})
        return jane.id, token, posted["id"]

    def job(self, token: str, job_id: int) -> dict[str, Any] | None:
        """The job as the web processes serve it; None while a connection fails (a process just died)."""
        try:
            return _http("GET", f"{self.stack.url}/api/analyses/{job_id}", token)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def finished(self, token: str, job_id: int, message: str) -> dict[str, Any]:
        return wait_for(
            lambda: (j := self.job(token, job_id)) and j["state"] in ("done", "failed") and j,
            timeout=120,
            message=message,
            interval=0.1,
        )

    def assert_exact(self, job: dict[str, Any]) -> None:
        hists, cutflow = self.expected
        assert job["state"] == "done", job["error"]
        assert job["result"]["cutflow"] == cutflow
        for name, want in hists.items():
            got = np.asarray(job["result"]["hists"][name]["counts_with_flow"])[1:-1]
            assert np.array_equal(got, want), name


@contextmanager
def running_stack(stack_dir: Path, settings: dict[str, Any], **parts: Any) -> Iterator[Running]:
    """A `DistributedStack` (``parts``: its processes and services; never XRootD) on the tiny dataset's files,
    with the test's ``settings`` over the ones every test here shares; stopped, and its services closed, after."""
    data = stack_dir / "data" / "tiny"
    generate("tiny", data, formats=("root",))
    files = sorted(data.glob("*.root"))
    expected = reference("dimuon", [str(p) for p in files])
    port = free_port()
    common = {
        "var_dir": str(stack_dir / "var"),
        "data_dir": str(stack_dir / "data"),
        "port": port,
        "host": "127.0.0.1",
        "base_url": f"http://127.0.0.1:{port}",
        "worker_poll_interval": 0.2,
        "stats_enabled": False,
    }
    with DistributedStack(load_settings({**common, **settings}), xrootd=False, **parts) as stack:
        stack.start()
        svc = build_services(stack.settings, migrate=False)
        try:
            yield Running(stack, svc, files, expected)
        finally:
            svc.close()


def test_a_job_survives_killing_a_web_process_and_its_worker(stack_dir: Path) -> None:
    settings = {
        "launch_enabled": False,
        "processing_executor": "inline",
        "processing_chunk_events": 20,  # many small tasks: the kills land mid-job
        "worker_heartbeat_timeout": 3,
    }
    with running_stack(stack_dir, settings, gateway=False, hub=False) as running:
        stack, svc = running.stack, running.svc
        _jane, token, job_id = running.start_dimuon()
        wait_for(
            lambda: (j := running.job(token, job_id)) and j["state"] == "running" and j["progress"].get("chunks_done"),
            timeout=120,
            message="a worker runs the job",
            interval=0.1,
        )
        holder = svc.queue.find(f"analysis:{job_id}")
        assert holder is not None and holder.worker_id is not None
        pid = int(holder.worker_id.split(":")[1])  # host:pid:nonce
        (victim,) = [w for w in stack.workers if w.pid == pid]
        os.kill(victim.pid, signal.SIGKILL)
        os.kill(stack.webs[0].pid, signal.SIGKILL)
        victim.wait(30)
        stack.webs[0].wait(30)

        running.assert_exact(running.finished(token, job_id, "the job finished on the other worker"))
        entry = svc.queue.find(f"analysis:{job_id}")
        survivors = [w for w in stack.workers if w.poll() is None]
        assert len(survivors) == 1 and stack.webs[1].poll() is None
        # the second attempt, by the surviving worker, after the heartbeat timeout gave the job up as lost
        assert entry.attempts == 2 and entry.state == "succeeded"
        assert entry.worker_id is not None and int(entry.worker_id.split(":")[1]) == survivors[0].pid


def test_the_hub_and_the_gateway_start_with_the_stack_and_are_wired_to_it(stack_dir: Path) -> None:
    """`portal stack --distributed` with its JupyterHub and its Dask Gateway (as `run_distributed` starts them):
    both answer; the hub signs people in through the portal's web processes (its OAuth client registered there)
    and takes the service token the processes were given; a signed-in person's analysis, posted over HTTP, runs on
    a cluster the gateway starts for their hub user, which is shut down when the worker stops."""
    import requests
    from dask_gateway import BasicAuth, Gateway

    from portal.processing.executors.gateway import forget_loop
    from portal.processing.gateway import gateway_password

    settings = {
        "launch_enabled": True,
        "launch_system_users": False,  # the tests run as root: no system account per hub user here
        "processing_executor": "gateway",
        "gateway_max_workers": 1,
    }
    # 34-40 s on a loaded 2-core machine, most of it the hub's and jane's cluster's starts
    # one web process and one worker: the part under test is the hub's and the gateway's wiring, not the sharing
    with running_stack(stack_dir, settings, webs=1, workers=1, gateway=True, hub=True) as running:
        stack = running.stack
        wired = stack.settings

        def clusters(user: str) -> list[str]:
            gateway = Gateway(wired.gateway_url, auth=BasicAuth(user, gateway_password(wired)))
            try:
                return sorted(c.name for c in gateway.list_clusters())
            finally:
                gateway.close()
                forget_loop(gateway)

        assert wired.launch_hub_url and wired.launch_hub_token and wired.gateway_url  # what the processes were given
        # the hub answers, and knows the portal's service token (the one in the processes' environment)
        assert requests.get(f"{wired.launch_hub_url}/hub/api/", timeout=30).json()["version"]
        me = requests.get(
            f"{wired.launch_hub_url}/hub/api/user",
            headers={"Authorization": f"token {wired.launch_hub_token}"},
            timeout=30,
        )
        assert me.status_code == 200 and me.json()["kind"] == "service", me.text
        # signing in to the hub goes through the portal's web process, which knows the hub as its OAuth client
        login = requests.get(f"{wired.launch_hub_url}/hub/oauth_login", allow_redirects=False, timeout=30)
        assert login.status_code == 302, login.text
        authorize = login.headers["Location"]
        assert authorize.startswith(f"{stack.url}/oauth/authorize?") and wired.launch_hub_client_id in authorize
        asked = requests.get(authorize, allow_redirects=False, timeout=30)  # nobody signed in: the sign-in page
        assert asked.status_code == 302 and asked.headers["Location"].startswith("/signin?next="), asked.text
        # the gateway answers
        assert requests.get(f"{wired.gateway_url}/api/health", timeout=30).json()["status"] == "pass"

        jane_id, token, job_id = running.start_dimuon()
        running.assert_exact(running.finished(token, job_id, "the analysis ran on the gateway"))
        # on jane's own cluster (her hub user's), started by the gateway; the worker's stop shuts it down
        hub_user = f"{wired.launch_user_prefix}{jane_id}"
        assert len(clusters(hub_user)) == 1
        for worker in stack.workers:
            stop_process(worker, grace=40)
        wait_for(
            lambda: clusters(hub_user) == [], timeout=60, message="the worker shut jane's cluster down", interval=0.1
        )
