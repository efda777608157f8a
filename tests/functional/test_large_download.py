"""A 2 GiB file downloads through a real gunicorn server with the server's memory flat."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest
import requests

SIZE = 2 * 1024**3
PORTAL = Path(sys.executable).parent / "portal"


def rss_of_tree(pid: int) -> int:
    """Resident memory (bytes) of a process and its children (gunicorn master + workers)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def zeros_adler32(n: int) -> str:
    # adler32 of n zero bytes: a stays 1, b grows by a (=1) per byte.
    return f"adler32:{((n % 65521) << 16) | 1:08x}"


# On SQLite only: the subject is the server's memory while it streams a file from disk; the database gives the
# record's file row before the first byte and plays no part in the 2 GiB that follow (both databases serve downloads
# in tests/functional/test_downloads.py). Both ran 20 s each in CI.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_two_gib_download_keeps_server_memory_flat(settings_dict, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    big = data / "big.bin"
    with big.open("wb") as fh:
        fh.truncate(SIZE)  # sparse: no disk used, reads return zeros
    record = {
        "recid": 77,
        "title": "A two gibibyte file",
        "type": {"primary": "Dataset"},
        "date_published": "2026",
        "files": [{"uri": f"file://{big}", "size": SIZE, "checksum": zeros_adler32(SIZE)}],
    }
    (tmp_path / "big.json").write_text(json.dumps([record]))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings_dict["database_url"],
        "PORTAL_VAR_DIR": str(tmp_path),
        "PORTAL_DATA_DIR": str(data),
        "PORTAL_PORT": str(port),
    }
    subprocess.run(
        [str(PORTAL), "records", "load", str(tmp_path / "big.json")], env=env, check=True, capture_output=True
    )
    server = subprocess.Popen(
        [str(PORTAL), "serve", "--workers", "1", "--threads", "4"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/record/77/files/big.bin"
        deadline = time.monotonic() + 120  # a bound on waiting for gunicorn's worker to boot, not on speed
        while True:
            try:
                if requests.head(url, timeout=10).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # listening before its worker has booted
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        baseline = rss_of_tree(server.pid)
        peak = baseline
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_of_tree(server.pid))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample)
        sampler.start()
        received, value = 0, 1
        with requests.get(url, stream=True, timeout=120) as resp:
            assert resp.status_code == 200 and int(resp.headers["Content-Length"]) == SIZE
            for chunk in resp.iter_content(1 << 20):
                received += len(chunk)
                value = zlib.adler32(chunk, value)
        done.set()
        sampler.join()
        assert received == SIZE and f"adler32:{value & 0xFFFFFFFF:08x}" == zeros_adler32(SIZE)
        growth = peak - baseline
        assert growth < 100 * 1024**2, f"server memory grew by {growth / 1024**2:.0f} MiB during a 2 GiB download"
    finally:
        server.terminate()
        server.wait(10)
