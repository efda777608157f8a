"""HTTP download throughput through the portal against `xrdcp` from the XRootD server, same 1 GiB file.

Both servers run on this machine over loopback, in a loopback-only network namespace (the benchmark
re-runs itself under tests/run-isolated when it can). HTTP client: curl; XRootD client: xrdcp.
Median of 3 runs each, page cache warm. Target: HTTP ≥ 0.7 × xrdcp. Env: BENCH_HTTP_MIB (default 1024).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from benchmarks._comparators import BIN, command, free_port, isolated, median_of, portal_serving, warm
from portal.storage.server import XRootDServer

MIB = int(os.environ.get("BENCH_HTTP_MIB", "1024"))


def main() -> None:
    if not isolated("http_vs_xrdcp"):
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
    port = free_port()
    env = {**os.environ, "PORTAL_VAR_DIR": str(top / "var"), "PORTAL_DATA_DIR": str(data)}
    record = {
        "recid": 1,
        "title": "Benchmark file",
        "type": {"primary": "Dataset"},
        "date_published": "2026",
        "files": [{"uri": f"file://{big}", "size": big.stat().st_size}],
    }
    (top / "r.json").write_text(json.dumps([record]))
    portal = str(BIN / "portal")
    subprocess.run([portal, "records", "load", str(top / "r.json")], env=env, check=True, capture_output=True)
    try:
        with portal_serving(env, port, workers=2, threads=4, ready="/api/records/1") as base:
            warm([big])
            t_http = median_of(command(["curl", "-sf", "-o", "/dev/null", f"{base}/record/1/files/big.bin"]), 3)
            t_xrd = median_of(command(["xrdcp", "-f", "-s", f"{server.url}//data/big.bin", "/dev/null"]), 3)
    finally:
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
