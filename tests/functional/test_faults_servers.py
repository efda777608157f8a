"""Faults injected into the real servers the portal reads from and launches on, under a portal that keeps running.

- XRootD killed (SIGKILL) mid-download, under `portal serve` (gunicorn) downloading a generated 48 MiB file from
  the `xrootd` storage backend: the transfer is cut (the client gets fewer bytes than Content-Length, never a
  complete 200 with wrong bytes), the error is in the server's log, other requests answer (a download answers
  503 problem+json with Retry-After while the server is away), and once xrootd is back on the same port and
  export the same process serves the file byte-exact, also resumed with a Range request.
- XRootD killed while an analysis job reads its files over root:// in a real queue worker: the job ends `failed`
  naming the unreachable storage (never stuck in `running`), and a new job after the restart gives the exact
  bins, in the same worker.
- JupyterHub stopped under a running portal: launching answers 503 with Retry-After (a page for a browser,
  problem+json for a client that asks for JSON, a refused event stream), no session is left "starting", the
  portal keeps serving, and once the hub is started again the same app launches. `/readyz` does not check the
  hub: a hub that is down affects launches only, and readiness would take the whole portal (downloads, search,
  analyses) out of its load balancer for it.

Before these tests the XRootD client kept its defaults: a killed server was not reconnected to for up to two
minutes, then not for 30 minutes (`portal.storage.xrootd.CLIENT_SETTINGS` says why and what is set instead).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from portal.app import services_of
from portal.storage.server import XRootDServer, free_port
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.live import live_server
from tests.support.waiting import wait_for
from tests.support.xrootd import require_xrootd, served_tempdir, xrootd_over

pytestmark = [pytest.mark.xrootd, pytest.mark.slow]

PORTAL = Path(sys.executable).parent / "portal"
BIG = 48 * 1024**2


def adler32(data: bytes) -> str:
    return f"adler32:{zlib.adler32(data) & 0xFFFFFFFF:08x}"


def kill(server: XRootDServer) -> None:
    """SIGKILL the xrootd process: no goodbye to its clients."""
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(10)
    server.process = None


def restart(server: XRootDServer) -> None:
    """The same server again: same port, export and state directory."""
    port = server.port
    server.start()
    assert server.port == port


@pytest.fixture
def served() -> Iterator[tuple[XRootDServer, Path]]:
    require_xrootd()
    data = served_tempdir()
    try:
        with xrootd_over(data) as server:
            yield server, data
    finally:
        shutil.rmtree(data.parent, ignore_errors=True)


# -- XRootD killed mid-download --------------------------------------------------------------------------------


#: what a request to a server that is still starting (or restarting) raises: not up yet, not a failure
NOT_LISTENING = (requests.ConnectionError, requests.Timeout)


# On SQLite only: the subject is a storage server dying under a running transfer; the database gives the file row
# before the first byte and has no part in the cut, the 503 or the resumed transfer (those reads are every
# download's, on both databases in tests/functional/test_downloads.py). Both ran ~21 s each in CI.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_xrootd_killed_mid_download_cuts_the_transfer_and_the_same_server_serves_it_again(
    served, settings_dict, tmp_path
):
    server, data = served
    (data / "ds").mkdir()
    content = os.urandom(BIG)
    (data / "ds" / "big.bin").write_bytes(content)
    (data / "ds" / "big.bin").chmod(0o644)
    records = write_records(
        tmp_path / "r.json",
        [dataset(4100, files=[{"uri": f"{server.url}//data/ds/big.bin", "size": BIG, "checksum": adler32(content)}])],
    )
    port = free_port()
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings_dict["database_url"],
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "PORTAL_STORAGE_BACKEND": "xrootd",
        "PORTAL_XROOTD_URL": server.url,
        "PORTAL_XROOTD_EXPORT": "data",
        "PORTAL_PORT": str(port),
        "PORTAL_STATS_ENABLED": "false",
    }
    subprocess.run([str(PORTAL), "records", "load", str(records)], env=env, check=True, capture_output=True)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        web = subprocess.Popen(
            [str(PORTAL), "serve", "--workers", "1", "--threads", "4"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/record/4100/files/big.bin"
    try:
        wait_for(
            lambda: requests.get(f"{base}/healthz", timeout=2).ok,
            30,
            "the portal to start",
            interval=0.2,
            ignoring=NOT_LISTENING,
        )
        received = bytearray()
        cut: Exception | None = None
        with requests.get(url, stream=True, timeout=60) as resp:
            assert resp.status_code == 200 and int(resp.headers["Content-Length"]) == BIG
            chunks = resp.iter_content(256 * 1024)
            received += next(chunks)
            kill(server)  # the portal has read at most what the socket buffers hold ahead of this client
            try:
                for chunk in chunks:
                    received += chunk
            except requests.exceptions.ChunkedEncodingError as exc:  # urllib3: fewer bytes than Content-Length
                cut = exc
        assert cut is not None and len(received) < BIG, f"the transfer was not cut: {len(received)} of {BIG} bytes"
        assert bytes(received) == content[: len(received)]  # what came is right, and it is not all

        # While xrootd is away: the portal answers everything else, and a download clearly.
        assert requests.get(f"{base}/api/records/4100", timeout=30).status_code == 200
        away = requests.get(url, timeout=60, headers={"Accept": "application/json"})
        assert away.status_code == 503 and away.headers.get("Retry-After"), (away.status_code, away.text[:300])
        assert away.headers["Content-Type"] == "application/problem+json" and "XRootD" in away.json()["detail"]
        assert "XRootD error" in log.read_text(errors="replace")  # the cut transfer was logged, with its cause

        restart(server)
        again = wait_for(
            lambda: (r := requests.get(url, timeout=60)).status_code == 200 and r,
            30,
            "a download after the restart",
            interval=0.2,
            ignoring=NOT_LISTENING,
        )
        assert len(again.content) == BIG and again.content == content
        resumed = requests.get(url, headers={"Range": f"bytes={len(received)}-"}, timeout=60)
        assert resumed.status_code == 206 and bytes(received) + resumed.content == content
        assert web.poll() is None  # one process throughout
    finally:
        web.terminate()
        web.wait(15)


# -- XRootD killed mid-analysis ----------------------------------------------------------------------------------

SLOW_ANALYSIS = '''
import time
from portal.processing.analyses.dimuon import DimuonSpectrum

class SlowDimuon(DimuonSpectrum):
    """The dimuon analysis, slowed down so that xrootd can be killed while its chunks are being read."""
    name = "slow-dimuon"
    def process(self, events):
        time.sleep(0.3)
        return super().process(events)
'''


def wait_for_job(svc, job_id: int, timeout: float, until=lambda job: job.state in ("done", "failed")):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = svc.analyses.get(job_id)
        if until(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {svc.analyses.get(job_id).state} after {timeout} s")


def test_xrootd_killed_mid_analysis_fails_the_job_by_storage_and_a_new_job_is_exact(served, make_app, tmp_path):
    from portal.demo.generate import generate
    from tests.support.processing_reference import reference

    server, data = served
    generate("tiny", data / "ds", formats=("root",))
    for path in (data / "ds").iterdir():
        path.chmod(0o644)
    (data / "ds").chmod(0o755)
    names = sorted(p.name for p in (data / "ds").glob("*.root"))
    module = tmp_path / "slow_analysis.py"
    module.write_text(SLOW_ANALYSIS)
    app = make_app(
        storage_backend="xrootd",
        xrootd_url=server.url,
        xrootd_export="data",
        processing_executor="inline",
        processing_chunk_events=500,
    )
    svc = services_of(app)
    files = [{"uri": f"{server.url}//data/ds/{name}", "size": (data / "ds" / name).stat().st_size} for name in names]
    load_file(svc, write_records(tmp_path / "r.json", [dataset(4200, files=files)]))

    job = svc.analyses.create(f"{module}:SlowDimuon", 4200)
    wait_for_job(svc, job.id, 60, until=lambda j: (j.progress or {}).get("chunks_done", 0) >= 2)
    assert svc.analyses.get(job.id).state == "running"
    kill(server)
    failed = wait_for_job(svc, job.id, 45)  # not left running: the read fails within the client's windows
    assert failed.state == "failed", failed
    assert failed.error.startswith(f"{server.url}//data/ds/") and "Connection error" in failed.error, failed.error
    assert failed.finished_at is not None

    # other work goes on meanwhile: the catalogue answers
    assert app.test_client().get("/api/records/4200").status_code == 200

    restart(server)
    # once the portal sees the storage back (its /readyz check), a new job in the same worker is exact
    client = app.test_client()
    wait_for(lambda: client.get("/readyz").get_json()["checks"]["storage"]["ok"], 30, "storage back", interval=0.2)
    again = svc.analyses.create("dimuon", 4200)
    done = wait_for_job(svc, again.id, 60)
    assert done.state == "done", done.error
    hists, cutflow = reference("dimuon", [str(data / "ds" / name) for name in names])
    assert done.result["cutflow"] == cutflow
    counts = np.asarray(done.result["hists"]["dimuon_mass"]["counts_with_flow"])
    assert np.array_equal(counts[1:-1], hists["dimuon_mass"])
    assert json.dumps(done.provenance["files"]).count("root://") == len(names)


# On SQLite only: what these add to the ROOT test above is the format's reader (pyarrow, h5py) over root://; the
# job's failure and its new run are recorded as in the ROOT test, which keeps both databases for that part. The
# four cases ran ~18 s each in CI.
@pytest.mark.parametrize("fmt,suffix", [("parquet", "parquet"), ("hdf5", "h5")])
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_xrootd_killed_mid_analysis_of_parquet_or_hdf5_then_a_new_job_is_exact(served, make_app, tmp_path, fmt, suffix):
    """The ROOT test above for the other processable formats, read over root:// through fsspec file objects
    (pyarrow for Parquet, h5py for HDF5): the job fails naming the file, and after the restart a new job in the
    same worker opens the files afresh and gives the exact bins."""
    from portal.demo.generate import generate
    from tests.support.processing_reference import reference

    server, data = served
    generate("tiny", data / "ds", formats=(fmt,))
    for path in (data / "ds").iterdir():
        path.chmod(0o644)
    (data / "ds").chmod(0o755)
    names = sorted(p.name for p in (data / "ds").glob(f"*.{suffix}"))
    roots = generate("tiny", tmp_path / "reference", formats=("root",))  # same seed: the same events, as ROOT
    module = tmp_path / "slow_analysis.py"
    module.write_text(SLOW_ANALYSIS)
    app = make_app(
        storage_backend="xrootd",
        xrootd_url=server.url,
        xrootd_export="data",
        processing_executor="inline",
        processing_chunk_events=500,
    )
    svc = services_of(app)
    files = [{"uri": f"{server.url}//data/ds/{name}", "size": (data / "ds" / name).stat().st_size} for name in names]
    load_file(svc, write_records(tmp_path / "r.json", [dataset(4300, files=files)]))

    job = svc.analyses.create(f"{module}:SlowDimuon", 4300)
    wait_for_job(svc, job.id, 60, until=lambda j: (j.progress or {}).get("chunks_done", 0) >= 2)
    assert svc.analyses.get(job.id).state == "running"
    kill(server)
    failed = wait_for_job(svc, job.id, 45)
    assert failed.state == "failed", failed
    assert failed.error.startswith(f"{server.url}//data/ds/"), failed.error
    assert failed.finished_at is not None

    restart(server)
    client = app.test_client()
    wait_for(lambda: client.get("/readyz").get_json()["checks"]["storage"]["ok"], 30, "storage back", interval=0.2)
    again = svc.analyses.create("dimuon", 4300)
    done = wait_for_job(svc, again.id, 60)
    assert done.state == "done", done.error
    hists, cutflow = reference("dimuon", [str(p) for p in sorted(roots)])
    assert done.result["cutflow"] == cutflow
    counts = np.asarray(done.result["hists"]["dimuon_mass"]["counts_with_flow"])
    assert np.array_equal(counts[1:-1], hists["dimuon_mass"])
    assert json.dumps(done.provenance["files"]).count("root://") == len(names)


# -- JupyterHub down ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # a hub outage concerns no database
def test_jupyterhub_down_refuses_launches_with_503_and_the_same_portal_launches_once_it_is_back(make_app, tmp_path):
    from portal.db.models import LaunchSession
    from portal.launch.hub import Hub
    from tests.functional.test_launch import BROWSER_UA, sse_events

    envs = tmp_path / "envs"
    (envs / "plain").mkdir(parents=True)
    (envs / "plain" / "requirements.txt").write_text("")
    hub = Hub(tmp_path / "hub").start()
    try:
        # the instant builder: the portal's own interpreter (which has the Jupyter stack); this is about the hub
        app = make_app(launch_hub_url=hub.url, launch_hub_token=hub.token, launch_builder="instant", envs_dir=str(envs))
        svc = services_of(app)
        with live_server(app) as base:
            web = requests.Session()
            web.headers["User-Agent"] = BROWSER_UA
            hub.stop()

            page = web.get(f"{base}/launch/env/plain", timeout=30)
            assert page.status_code == 503 and page.headers.get("Retry-After"), (page.status_code, page.text[:300])
            assert page.headers["Content-Type"].startswith("text/html") and "JupyterHub is unreachable" in page.text
            stream = web.get(f"{base}/launch/env/plain/events", headers={"Accept": "application/json"}, timeout=30)
            assert stream.status_code == 503 and stream.headers.get("Retry-After")
            assert stream.headers["Content-Type"] == "application/problem+json"
            assert hub.url in stream.json()["detail"] and "unreachable" in stream.json()["detail"]
            with svc.db.reader() as s:  # refused before anything was built or counted: no session "starting"
                assert s.query(LaunchSession).count() == 0
            # the rest of the portal serves; readiness does not depend on the hub (only launches do)
            assert web.get(f"{base}/api/records", timeout=30).status_code == 200
            assert set(web.get(f"{base}/readyz", timeout=30).json()["checks"]) == {"database", "storage", "search"}

            hub.start()  # the same hub again: same port, token and database
            events = sse_events(f"{base}/launch/env/plain/events")
            assert events[-1]["phase"] == "ready", events[-3:]
            lab = requests.get(str(events[-1]["url"]), headers=hub.headers, timeout=30)
            assert lab.status_code == 200 and "JupyterLab" in lab.text
    finally:
        hub.stop()
