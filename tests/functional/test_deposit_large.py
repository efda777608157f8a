"""A 300 MB file deposited through the InvenioRDM-shaped API into the portal served by `portal serve` (gunicorn, a
process of its own), on SQLite: the worker's peak resident memory grows by far less than the file
(bytes stream in bounded blocks), and the published file is byte-exact. A memory bound, not a timing."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.users import bearer, token_for

PORTAL = Path(sys.executable).with_name("portal")
SIZE = 300 * 1024 * 1024
BOUND = 100 * 1024 * 1024  # bytes of peak RSS growth allowed for a 300 MB upload


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def workers(arbiter: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{arbiter}/task/{arbiter}/children").read_text().split()]


# On SQLite only: the subject is the worker's memory while 300 MB stream to disk; the database holds the same few
# rows (draft, file entries, checksum) whatever the file's size, and the deposit API's steps run on both databases
# in tests/functional/test_deposit.py. Both ran ~20 s each in CI.
@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_300_mb_upload_keeps_the_server_memory_flat(app, settings_dict, tmp_path):
    source = tmp_path / "big.bin"
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()
    with open(source, "wb") as fh:
        for i in range(SIZE // len(block)):
            chunk = block[i % 7 :] + block[: i % 7]  # not one block repeated: each MiB differs
            fh.write(chunk)
            digest.update(chunk)
    token = token_for(app, ["deposit:write", "deposit:publish"], username="alice")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings_dict["database_url"],
        "PORTAL_VAR_DIR": settings_dict["var_dir"],
        "PORTAL_BASE_URL": url,
        "PORTAL_DEPOSIT_OWNERS_PUBLISH": "true",
    }
    proc = subprocess.Popen(
        [str(PORTAL), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--threads", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "portal serve exited"
            try:
                requests.get(f"{url}/api/records?size=1", timeout=60)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "portal serve did not answer within 120 s"
                time.sleep(0.5)
        auth = bearer(token)
        body = {
            "metadata": {
                "title": "A large deposit",
                "type": {"primary": "Dataset", "secondary": ["Derived"]},
                "experiment": ["CMS"],
                "date_published": "2026-12-01",
            }
        }
        recid = requests.post(f"{url}/api/records", json=body, headers=auth, timeout=120).json()["id"]
        files = [{"key": "small.txt"}, {"key": "big.bin"}]
        assert requests.post(f"{url}/api/records/{recid}/draft/files", json=files, headers=auth, timeout=60).ok
        put = requests.put(
            f"{url}/api/records/{recid}/draft/files/small.txt/content", data=b"warm-up\n", headers=auth, timeout=60
        )
        assert put.ok, put.text
        [worker] = workers(proc.pid)
        before = kib(worker, "VmRSS")  # after a first upload: the code paths and libraries of an upload are loaded
        with open(source, "rb") as fh:
            put = requests.put(
                f"{url}/api/records/{recid}/draft/files/big.bin/content", data=fh, headers=auth, timeout=600
            )
        assert put.ok, put.text
        for key in ("small.txt", "big.bin"):
            committed = requests.post(f"{url}/api/records/{recid}/draft/files/{key}/commit", headers=auth, timeout=600)
            assert committed.ok, committed.text
        assert committed.json()["checksums"]["sha256"] == digest.hexdigest()
        published = requests.post(f"{url}/api/records/{recid}/draft/actions/publish", headers=auth, timeout=600)
        assert published.status_code == 202, published.text
        peak = kib(worker, "VmHWM")
        growth = peak - before
        print(f"worker peak RSS growth over a {SIZE >> 20} MB deposit: {growth / 2**20:.1f} MiB")
        assert growth < BOUND, f"peak RSS grew by {growth / 2**20:.1f} MiB"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    # the published bytes, read back from the catalogue's storage
    stored = {
        f["key"]: Path(f["uri"].removeprefix("file://"))
        for f in app.test_client().get(f"/api/records/{recid}").get_json()["metadata"]["files"]
    }
    check = hashlib.sha256()
    with open(stored["big.bin"], "rb") as fh:
        while chunk := fh.read(8 * 1024 * 1024):
            check.update(chunk)
    assert check.hexdigest() == digest.hexdigest()
