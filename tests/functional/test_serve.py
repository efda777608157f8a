"""`portal serve --host --port --workers`: the real gunicorn server, started as a user would start it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

PORTAL = Path(sys.executable).parent / "portal"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_binds_host_and_port_with_workers_and_links_follow_them(settings_dict, tmp_path):
    port = free_port()
    env = {**os.environ, "PORTAL_DATABASE_URL": settings_dict["database_url"], "PORTAL_VAR_DIR": str(tmp_path)}
    env.pop("PORTAL_BASE_URL", None)
    proc = subprocess.Popen(
        [str(PORTAL), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--threads", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # gunicorn's workers go with the arbiter when the test stops it
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                resp = requests.get(f"http://127.0.0.1:{port}/api/records?size=1", timeout=30)
                break
            except requests.RequestException:  # not listening yet, or the workers still booting
                assert time.monotonic() < deadline, "portal serve did not answer within 90 s"
                time.sleep(0.3)
        assert resp.status_code == 200
        assert resp.json()["links"]["self"].startswith(f"http://127.0.0.1:{port}/api/records")
        # Zenodo's clients send their token in the query: the access log must not keep it
        requests.get(f"http://127.0.0.1:{port}/api/deposit/depositions?access_token=SeCrEt-in-query", timeout=30)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    assert "Booting worker" in output and output.count("Booting worker") == 2, output
    assert "/api/deposit/depositions?access_token=[redacted]" in output, output
    assert "SeCrEt-in-query" not in output
