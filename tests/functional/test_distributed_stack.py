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
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from portal.catalog.model import RecordInput
from portal.db.server import pg_bindir
from portal.demo.generate import generate
from portal.distributed import DistributedStack
from portal.identity.principal import COMMAND_LINE
from portal.services import build_services
from portal.settings import load_settings
from portal.stack import stop_process
from portal.storage.server import free_port
from tests.support.processing_reference import reference

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


def _job(stack: DistributedStack, token: str, job_id: int) -> dict[str, Any] | None:
    """The job as the web processes serve it; None while a connection fails (a process just died)."""
    try:
        return _http("GET", f"{stack.url}/api/analyses/{job_id}", token)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def wait_for(what, timeout: float = 120, message: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting after {timeout} s: {message}")


def test_a_job_survives_killing_a_web_process_and_its_worker(stack_dir: Path) -> None:
    data = stack_dir / "data" / "tiny"
    generate("tiny", data, formats=("root",))
    files = sorted(data.glob("*.root"))
    hists, cutflow = reference("dimuon", [str(p) for p in files])
    port = free_port()
    settings = load_settings(
        {
            "var_dir": str(stack_dir / "var"),
            "data_dir": str(stack_dir / "data"),
            "port": port,
            "host": "127.0.0.1",
            "base_url": f"http://127.0.0.1:{port}",
            "launch_enabled": False,
            "processing_executor": "inline",
            "processing_chunk_events": 20,  # many small tasks: the kills land mid-job
            "worker_heartbeat_timeout": 3,
            "worker_poll_interval": 0.2,
            "stats_enabled": False,
        }
    )
    with DistributedStack(settings, xrootd=False, gateway=False, hub=False) as stack:
        stack.start()
        svc = build_services(stack.settings, migrate=False)
        try:
            rows = [{"key": p.name, "uri": f"file://{p}", "size": p.stat().st_size} for p in files]
            base = {"type": {"primary": "Dataset"}, "date_published": "2024-05-01", "title": "Tiny events"}
            svc.catalog.load([RecordInput({**base, "recid": DATASET}, files=rows)])
            jane = svc.users.create(COMMAND_LINE, "jane")
            _info, token = svc.tokens.create(COMMAND_LINE, jane.id, "test", ["analyses:run"], expires_in_days=1)
            job_id = _http("POST", f"{stack.url}/api/analyses", token, {"analysis": "dimuon", "dataset": DATASET})["id"]
            wait_for(
                lambda: (
                    (j := _job(stack, token, job_id)) and j["state"] == "running" and j["progress"].get("chunks_done")
                ),
                message="a worker runs the job",
            )
            holder = svc.queue.find(f"analysis:{job_id}")
            assert holder is not None and holder.worker_id is not None
            pid = int(holder.worker_id.split(":")[1])  # host:pid:nonce
            (victim,) = [w for w in stack.workers if w.pid == pid]
            os.kill(victim.pid, signal.SIGKILL)
            os.kill(stack.webs[0].pid, signal.SIGKILL)
            victim.wait(30)
            stack.webs[0].wait(30)

            done = wait_for(
                lambda: (j := _job(stack, token, job_id)) and j["state"] in ("done", "failed") and j,
                message="the job finished on the other worker",
            )
            assert done["state"] == "done", done["error"]
            assert done["result"]["cutflow"] == cutflow
            for name, want in hists.items():
                got = np.asarray(done["result"]["hists"][name]["counts_with_flow"])[1:-1]
                assert np.array_equal(got, want), name
            entry = svc.queue.find(f"analysis:{job_id}")
            survivors = [w for w in stack.workers if w.poll() is None]
            assert len(survivors) == 1 and stack.webs[1].poll() is None
            # the second attempt, by the surviving worker, after the heartbeat timeout gave the job up as lost
            assert entry.attempts == 2 and entry.state == "succeeded"
            assert entry.worker_id is not None and int(entry.worker_id.split(":")[1]) == survivors[0].pid
        finally:
            svc.close()


def test_the_hub_and_the_gateway_start_with_the_stack_and_are_wired_to_it(stack_dir: Path) -> None:
    """`portal stack --distributed` with its JupyterHub and its Dask Gateway (as `run_distributed` starts them):
    both answer; the hub signs people in through the portal's web processes (its OAuth client registered there)
    and takes the service token the processes were given; a signed-in person's analysis, posted over HTTP, runs on
    a cluster the gateway starts for their hub user, which is shut down when the worker stops."""
    import requests
    from dask_gateway import BasicAuth, Gateway

    from portal.processing.executors.gateway import forget_loop
    from portal.processing.gateway import gateway_password

    data = stack_dir / "data" / "tiny"
    generate("tiny", data, formats=("root",))
    files = sorted(data.glob("*.root"))
    hists, cutflow = reference("dimuon", [str(p) for p in files])
    port = free_port()
    settings = load_settings(
        {
            "var_dir": str(stack_dir / "var"),
            "data_dir": str(stack_dir / "data"),
            "port": port,
            "host": "127.0.0.1",
            "base_url": f"http://127.0.0.1:{port}",
            "launch_enabled": True,
            "launch_system_users": False,  # the tests run as root: no system account per hub user here
            "processing_executor": "gateway",
            "gateway_max_workers": 1,
            "worker_poll_interval": 0.2,
            "stats_enabled": False,
        }
    )

    def clusters(user: str) -> list[str]:
        gateway = Gateway(stack.settings.gateway_url, auth=BasicAuth(user, gateway_password(stack.settings)))
        try:
            return sorted(c.name for c in gateway.list_clusters())
        finally:
            gateway.close()
            forget_loop(gateway)

    # 34-40 s on a loaded 2-core machine, most of it the hub's and jane's cluster's starts
    # one web process and one worker: the part under test is the hub's and the gateway's wiring, not the sharing
    with DistributedStack(settings, webs=1, workers=1, xrootd=False, gateway=True, hub=True) as stack:
        stack.start()
        wired = stack.settings
        assert wired.launch_hub_url and wired.launch_hub_token and wired.gateway_url  # what the processes were given
        svc = build_services(wired, migrate=False)
        try:
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

            rows = [{"key": p.name, "uri": f"file://{p}", "size": p.stat().st_size} for p in files]
            base = {"type": {"primary": "Dataset"}, "date_published": "2024-05-01", "title": "Tiny events"}
            svc.catalog.load([RecordInput({**base, "recid": DATASET}, files=rows)])
            jane = svc.users.create(COMMAND_LINE, "jane")
            _info, token = svc.tokens.create(COMMAND_LINE, jane.id, "test", ["analyses:run"], expires_in_days=1)
            job_id = _http("POST", f"{stack.url}/api/analyses", token, {"analysis": "dimuon", "dataset": DATASET})["id"]
            done = wait_for(
                lambda: (j := _job(stack, token, job_id)) and j["state"] in ("done", "failed") and j,
                message="the analysis ran on the gateway",
            )
            assert done["state"] == "done", done["error"]
            assert done["result"]["cutflow"] == cutflow
            for name, want in hists.items():
                got = np.asarray(done["result"]["hists"][name]["counts_with_flow"])[1:-1]
                assert np.array_equal(got, want), name
            # on jane's own cluster (her hub user's), started by the gateway; the worker's stop shuts it down
            hub_user = f"{wired.launch_user_prefix}{jane.id}"
            assert len(clusters(hub_user)) == 1
            for worker in stack.workers:
                stop_process(worker, grace=40)
            wait_for(lambda: clusters(hub_user) == [], timeout=60, message="the worker shut jane's cluster down")
        finally:
            svc.close()
