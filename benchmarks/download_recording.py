"""Download throughput with usage recording on and off: recording must not slow downloads.

A real gunicorn server (2 workers x 8 threads) serves a 16 MiB file; 8 client threads make 160 downloads;
the same run with PORTAL_STATS_ENABLED=false is the comparator. Afterwards the recorded run's events are
flushed, aggregated and checked: every download counted. Target: ratio ≥ 0.95.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

DOWNLOADS, THREADS, MIB = 160, 8, 16


def run(top: Path, enabled: bool) -> tuple[float, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "PORTAL_VAR_DIR": str(top / "var"),
        "PORTAL_DATA_DIR": str(top / "data"),
        "PORTAL_PORT": str(port),
        "PORTAL_STATS_ENABLED": "true" if enabled else "false",
    }
    portal = str(Path(sys.executable).parent / "portal")
    web = subprocess.Popen(
        [portal, "serve", "--workers", "2", "--threads", "8"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/record/1/files/f.bin"
    try:
        for _ in range(150):
            try:
                if requests.head(url, timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)

        def fetch(i: int) -> int:
            agent = f"Mozilla/5.0 (X11; Linux x86_64) Firefox/{i}"
            with requests.get(url, headers={"User-Agent": agent}, stream=True, timeout=60) as r:
                return sum(len(c) for c in r.iter_content(1 << 20))

        t0 = time.perf_counter()
        with ThreadPoolExecutor(THREADS) as pool:
            total = sum(pool.map(fetch, range(DOWNLOADS)))
        elapsed = time.perf_counter() - t0
    finally:
        web.terminate()
        web.wait(15)  # workers flush their queued events on exit
    assert total == DOWNLOADS * MIB * 2**20
    counted = 0
    if enabled:
        subprocess.run([portal, "stats", "aggregate"], env=env, check=True, capture_output=True)
        from portal.services import build_services
        from portal.settings import load_settings

        svc = build_services(load_settings({"var_dir": str(top / "var")}, environ={}))
        counted = svc.stats.record_stats(1).version["download"].events
        svc.close()
    return elapsed, counted


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        top = Path(tmp)
        (top / "data").mkdir()
        (top / "data" / "f.bin").write_bytes(os.urandom(MIB * 2**20))
        record = {
            "recid": 1,
            "title": "Benchmark file",
            "type": {"primary": "Dataset"},
            "date_published": "2026",
            "files": [{"uri": f"file://{top / 'data' / 'f.bin'}", "size": MIB * 2**20}],
        }
        (top / "r.json").write_text(json.dumps([record]))
        portal = str(Path(sys.executable).parent / "portal")
        subprocess.run(
            [portal, "records", "load", str(top / "r.json")],
            check=True,
            capture_output=True,
            env={**os.environ, "PORTAL_VAR_DIR": str(top / "var")},
        )
        t_off, _ = run(top, enabled=False)
        t_on, counted = run(top, enabled=True)
    mb = DOWNLOADS * MIB * 1.048576
    print(f"{DOWNLOADS} downloads of {MIB} MiB, {THREADS} concurrent clients, gunicorn 2x8")
    print(f"{'recording':<24}{'time':>9}{'MB/s':>10}")
    print(f"{'off (comparator)':<24}{t_off:>8.2f}s{mb / t_off:>10.0f}")
    print(f"{'on':<24}{t_on:>8.2f}s{mb / t_on:>10.0f}")
    print(f"ratio on/off throughput: {t_off / t_on:.2f} (target >= 0.95); downloads counted: {counted} of {DOWNLOADS}")


if __name__ == "__main__":
    main()
