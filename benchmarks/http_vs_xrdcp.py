"""HTTP download throughput through the portal against `xrdcp` from the XRootD server, same 1 GiB file.

Both servers run on this machine over loopback, in a loopback-only network namespace (the benchmark
re-runs itself under tests/run-isolated when it can). HTTP client: curl; XRootD client: xrdcp.
Median of 3 runs each, page cache warm. Target: HTTP ≥ 0.7 × xrdcp. Env: BENCH_HTTP_MIB (default 1024).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from portal.storage.server import XRootDServer, only_loopback

ROOT = Path(__file__).resolve().parent.parent
MIB = int(os.environ.get("BENCH_HTTP_MIB", "1024"))


def timed(cmd: list[str], runs: int = 3) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    if not only_loopback():
        if os.geteuid() == 0 and shutil.which("ip"):
            subprocess.run(
                [str(ROOT / "tests" / "run-isolated"), sys.executable, "-m", "benchmarks", "http_vs_xrdcp"],
                check=True,
                cwd=ROOT,
            )
            return
        print("skipped: needs root to run xrootd in a loopback-only network namespace")
        return
    top = Path(tempfile.mkdtemp(prefix="bench-http-"))
    os.chmod(top, 0o755)
    data = top / "data"
    data.mkdir(mode=0o755)
    big = data / "big.bin"
    with big.open("wb") as fh:
        block = os.urandom(1 << 20)
        for _ in range(MIB):
            fh.write(block)
    os.chmod(big, 0o644)
    server = XRootDServer(localroot=top, export="data", state_dir=top / "xrd").start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PORTAL_VAR_DIR": str(top / "var"), "PORTAL_DATA_DIR": str(data), "PORTAL_PORT": str(port)}
    portal = str(Path(sys.executable).parent / "portal")
    record = {
        "recid": 1,
        "title": "Benchmark file",
        "type": {"primary": "Dataset"},
        "date_published": "2026",
        "files": [{"uri": f"file://{big}", "size": big.stat().st_size}],
    }
    (top / "r.json").write_text(json.dumps([record]))
    subprocess.run([portal, "records", "load", str(top / "r.json")], env=env, check=True, capture_output=True)
    web = subprocess.Popen(
        [portal, "serve", "--workers", "2", "--threads", "4"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/record/1/files/big.bin"
    try:
        for _ in range(100):
            if subprocess.run(["curl", "-sfI", url], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        subprocess.run(["cat", str(big)], stdout=subprocess.DEVNULL, check=True)
        t_http = timed(["curl", "-sf", "-o", "/dev/null", url])
        t_xrd = timed(["xrdcp", "-f", "-s", f"{server.url}//data/big.bin", "/dev/null"])
    finally:
        web.terminate()
        web.wait(10)
        server.stop()
        shutil.rmtree(top, ignore_errors=True)
    mb = MIB * 1.048576
    print(f"file: {MIB} MiB, loopback, page cache warm, median of 3")
    print(f"{'client/server':<40}{'time':>9}{'MB/s':>10}")
    print(f"{'xrdcp <- xrootd (comparator)':<40}{t_xrd:>8.2f}s{mb / t_xrd:>10.0f}")
    print(f"{'curl <- portal HTTP (gunicorn)':<40}{t_http:>8.2f}s{mb / t_http:>10.0f}")
    print(f"ratio HTTP / xrdcp throughput: {t_xrd / t_http:.2f} (target >= 0.70)")


if __name__ == "__main__":
    main()
