"""`portal get` against what users run today, side by side in one run, same record and same server.

Two records on one portal (gunicorn, `portal serve`) whose files are also exported by a real XRootD server:
many small files, and a few large ones. Clients, each into an empty directory:

- `portal get --parallel 8` over HTTPS, and over root:// (XRootD client bindings);
- cernopendata-client's own downloader, `downloader.download_single_file` then `check_error`, one file after
  another, as its `download-files` command does (that command cannot be pointed at another server's files: it
  rewrites only CERN's root://eospublic.cern.ch/ URIs), on the portal's HTTPS URLs;
- sequential `curl` (one process per file, as a shell loop) and sequential `xrdcp` (one per file).

Every client's output is checked (sizes and adler32) after its run. Loopback, page cache warm, median of
BENCH_GET_RUNS runs (default 3), the clients' runs interleaved. Sizes: BENCH_GET_SMALL files of
BENCH_GET_SMALL_KB kB (default 200 x 64), BENCH_GET_LARGE files of BENCH_GET_LARGE_MIB MiB (default 3 x 50).
Needs xrootd-server and xrootd-client; runs itself in a loopback-only network namespace (tests/run-isolated) as
http_vs_xrdcp does.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from benchmarks._comparators import BIN, free_port, isolated, portal_serving, seconds, warm
from portal.storage.server import XRootDServer

SMALL = int(os.environ.get("BENCH_GET_SMALL", "200"))
SMALL_KB = int(os.environ.get("BENCH_GET_SMALL_KB", "64"))
LARGE = int(os.environ.get("BENCH_GET_LARGE", "3"))
LARGE_MIB = int(os.environ.get("BENCH_GET_LARGE_MIB", "50"))
RUNS = int(os.environ.get("BENCH_GET_RUNS", "3"))

# cernopendata-client's download-files loop (cli.py): download_single_file, then check_error (which reads the
# whole file to checksum it), one file after the other.
CERNOPENDATA_LOOP = """
import sys
from cernopendata_client.downloader import check_error, download_single_file
out, urls = sys.argv[1], sys.argv[2:]
for url in urls:
    download_single_file(path=out, file_location=url, protocol="https", download_engine="requests")
    check_error(path=out, file_location=url, protocol="https", retry_limit=10, retry_sleep=5)
"""


def adler(path: Path) -> str:
    value = 1
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            value = zlib.adler32(block, value)
    return f"adler32:{value & 0xFFFFFFFF:08x}"


def write_files(directory: Path, count: int, size: int) -> list[Path]:
    directory.mkdir(mode=0o755)
    paths = []
    block = os.urandom(1 << 20)
    for i in range(count):
        path = directory / f"f{i:05d}.bin"
        with path.open("wb") as fh:
            fh.write(i.to_bytes(8, "big"))  # every file different
            left = size - 8
            while left > 0:
                fh.write(block[: min(left, len(block))])
                left -= min(left, len(block))
        os.chmod(path, 0o644)
        paths.append(path)
    return paths


def timed_once(run: Callable[[Path], None], top: Path, check: Callable[[Path], None]) -> float:
    """One run of a client into a fresh directory, its output checked afterwards; seconds."""
    out = top / f"out-{time.monotonic_ns()}"
    out.mkdir()
    elapsed = seconds(lambda: run(out))
    check(out)
    shutil.rmtree(out)
    return elapsed


def main() -> None:
    if not isolated("get_client"):
        return
    if not shutil.which("xrdcp") or not (BIN / "portal").exists():
        print("skipped: needs xrdcp (apt-get install xrootd-client) and the portal's console script")
        return
    top = Path(tempfile.mkdtemp(prefix="bench-get-"))
    os.chmod(top, 0o755)
    data = top / "data"
    data.mkdir(mode=0o755)
    sets = {
        1: ("small", write_files(data / "small", SMALL, SMALL_KB * 1000)),
        2: ("large", write_files(data / "large", LARGE, LARGE_MIB << 20)),
    }
    server = XRootDServer(localroot=top, export="data", state_dir=top / "xrd").start()
    records = [
        {
            "recid": recid,
            "title": f"get benchmark: {name} files",
            "type": {"primary": "Dataset"},
            "date_published": "2026",
            "files": [
                {"uri": f"{server.url}//data/{name}/{p.name}", "size": p.stat().st_size, "checksum": adler(p)}
                for p in paths
            ],
        }
        for recid, (name, paths) in sets.items()
    ]
    (top / "r.json").write_text(json.dumps(records))
    port = free_port()
    env = {
        **os.environ,
        "PORTAL_VAR_DIR": str(top / "var"),
        "PORTAL_DATA_DIR": str(data),
        "PORTAL_XROOTD_URL": server.url,
        "PORTAL_XROOTD_EXPORT": "data",
        "PORTAL_BASE_URL": f"http://127.0.0.1:{port}",
    }
    portal = str(BIN / "portal")
    subprocess.run([portal, "records", "load", str(top / "r.json")], env=env, check=True, capture_output=True)
    rows: list[tuple[str, str, float, int]] = []
    plans: list[tuple[str, int, list[tuple[str, Callable[[Path], None]]], Callable[[Path], None]]] = []
    try:
        with portal_serving(env, port, workers=2, threads=8, ready="/api/records/1") as base:
            from portal.client.records import list_files

            for recid, (name, paths) in sets.items():
                warm(paths)
                plan = list_files(base, recid)
                expected = {f.key: (f.size, f.checksum) for f in plan.files}
                nbytes = plan.total_bytes

                def check(out: Path, expected: dict = expected) -> None:
                    got = {p.name: (p.stat().st_size, adler(p)) for p in out.iterdir() if p.is_file()}
                    assert got == expected, f"wrong output in {out}"

                def portal_get(protocol: str, recid: int = recid) -> Callable[[Path], None]:
                    def fetch(out: Path) -> None:
                        subprocess.run(
                            [portal, "get", str(recid), "--server", base, "--out", str(out), "--parallel", "8",
                             "--protocol", protocol],
                            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                        )  # fmt: skip

                    return fetch

                def cernopendata(out: Path, plan=plan) -> None:
                    urls = [f.https_url for f in plan.files]
                    subprocess.run(
                        [sys.executable, "-c", CERNOPENDATA_LOOP, str(out), *urls],
                        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )  # fmt: skip

                def curl(out: Path, plan=plan) -> None:
                    for f in plan.files:
                        subprocess.run(["curl", "-sf", "-o", str(out / f.key), f.https_url], check=True)

                def xrdcp(out: Path, plan=plan) -> None:
                    for f in plan.files:
                        subprocess.run(["xrdcp", "-f", "-s", str(f.root_url), str(out / f.key)], check=True)

                clients = [
                    ("portal get --parallel 8 (https)", portal_get("https")),
                    ("portal get --parallel 8 (root://)", portal_get("root")),
                    ("cernopendata-client downloader (https)", cernopendata),
                    ("curl, one file after another", curl),
                    ("xrdcp, one file after another", xrdcp),
                ]
                plans.append((name, nbytes, clients, check))
            samples: dict[tuple[str, str], list[float]] = {}
            for _ in range(RUNS):  # interleaved: a change of load on the machine hits every client alike
                for name, _nbytes, clients, check in plans:
                    for label, run in clients:
                        samples.setdefault((name, label), []).append(timed_once(run, top, check))
            for name, nbytes, clients, _check in plans:
                for label, _run in clients:
                    rows.append((name, label, statistics.median(samples[(name, label)]), nbytes))
    finally:
        server.stop()
        shutil.rmtree(top, ignore_errors=True)
    print(
        f"small: {SMALL} x {SMALL_KB} kB; large: {LARGE} x {LARGE_MIB} MiB; loopback, page cache warm, "
        f"median of {RUNS}; every output verified (sizes + adler32)"
    )
    print(f"{'files':<7}{'client':<42}{'time':>9}{'MB/s':>9}{'x portal get':>14}")
    for name in ("small", "large"):
        mine = next(t for n, label, t, _ in rows if n == name and label.startswith("portal get") and "https" in label)
        for n, label, t, nbytes in rows:
            if n == name:
                print(f"{n:<7}{label:<42}{t:>8.2f}s{nbytes / 1e6 / t:>9.0f}{t / mine:>13.2f}x")
    print("x portal get: the client's time over `portal get` (https) on the same files; above 1 is slower")


if __name__ == "__main__":
    main()
