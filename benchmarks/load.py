"""Load: locust (headless, loopback, bounded users and time) against a real gunicorn server.

Scenarios (benchmarks/_locustfile.py): browsing and search (pages and the JSON API), parallel downloads of
1 MiB ranges of a 64 MiB file, and OAI-PMH harvests followed through their resumption tokens, mixed 6:2:1 by
users. Launches and analysis submissions are not in the mix (see README). The catalogue: 300 datasets on
SQLite, the server `portal serve --workers 2 --threads 8` with rate limits off (they would turn the load into
429s). Prints throughput, p50/p95/p99 and error rate per scenario and in total, and the server's peak memory
(resident set of the gunicorn master and its workers, sampled every 0.5 s).

Knobs: LOAD_USERS (default 20), LOAD_SECONDS (default 30).
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

FILE_MIB = 64
RECORDS = 300
WORDS = ("muon", "dimuon", "electron", "jet", "higgs", "collision")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _catalogue(top: Path) -> list[int]:
    data = top / "data"
    data.mkdir()
    big = data / "big.bin"
    with big.open("wb") as fh:
        for _ in range(FILE_MIB):
            fh.write(os.urandom(1 << 20))
    records = [
        {
            "recid": n,
            "title": f"{WORDS[n % len(WORDS)].title()} dataset {n} of the load benchmark",
            "type": {"primary": "Dataset", "secondary": ["Collision"]},
            "experiment": ["CMS"],
            "date_published": str(2010 + n % 15),
            "abstract": {"description": f"Events with a {WORDS[(n + 1) % len(WORDS)]} selection."},
            "files": [{"uri": f"file://{big}", "size": FILE_MIB << 20}] if n == 1 else [],
        }
        for n in range(1, RECORDS + 1)
    ]
    (top / "r.json").write_text(json.dumps(records))
    return [r["recid"] for r in records]


class MemoryPeak:
    """The largest resident set of a process and its children, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemoryPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                procs = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass


def main() -> None:
    users = int(os.environ.get("LOAD_USERS", "20"))
    seconds = int(os.environ.get("LOAD_SECONDS", "30"))
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        top = Path(tmp)
        recids = _catalogue(top)
        port = _free_port()
        env = {
            **os.environ,
            "PORTAL_VAR_DIR": str(top / "var"),
            "PORTAL_DATA_DIR": str(top / "data"),
            "PORTAL_PORT": str(port),
            "PORTAL_RATELIMIT_ENABLED": "false",
        }
        subprocess.run(
            [str(bin_dir / "portal"), "records", "load", str(top / "r.json")], env=env, check=True, capture_output=True
        )
        web = subprocess.Popen(
            [str(bin_dir / "portal"), "serve", "--workers", "2", "--threads", "8"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if requests.get(f"{url}/readyz", timeout=10).status_code == 200:
                        break
                except requests.RequestException:  # not listening yet, or still starting its workers
                    pass
                time.sleep(0.2)
            locust_env = {
                **os.environ,
                "LOAD_RECIDS": ",".join(map(str, recids)),
                "LOAD_FILE": "/record/1/files/big.bin",
                "LOAD_FILE_SIZE": str(FILE_MIB << 20),
            }
            prefix = top / "locust"
            with MemoryPeak(web.pid) as memory:
                subprocess.run(
                    [
                        str(bin_dir / "locust"),
                        "-f",
                        str(Path(__file__).with_name("_locustfile.py")),
                        "--headless",
                        "--users",
                        str(users),
                        "--spawn-rate",
                        str(users),
                        "--run-time",
                        f"{seconds}s",
                        "--host",
                        url,
                        "--csv",
                        str(prefix),
                        "--only-summary",
                        "--loglevel",
                        "ERROR",
                    ],
                    env=locust_env,
                    check=False,
                    capture_output=True,
                    timeout=seconds + 120,
                )
            rows = list(csv.DictReader((top / "locust_stats.csv").open()))
        finally:
            web.terminate()
            try:
                web.wait(60)
            except subprocess.TimeoutExpired:
                web.kill()
                web.wait()
    print(
        f"locust: {users} users for {seconds}s on loopback; gunicorn 2 workers x 8 threads; {RECORDS} records, "
        f"{FILE_MIB} MiB file"
    )
    print(f"{'scenario':<30}{'requests':>9}{'req/s':>8}{'errors':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}")
    for row in rows:
        count = int(row["Request Count"])
        errors = int(row["Failure Count"])
        print(
            f"{row['Name'][:29]:<30}{count:>9}{float(row['Requests/s']):>8.1f}"
            f"{(errors / count if count else 0):>8.1%}{row['50%']:>8}{row['95%']:>8}{row['99%']:>8}"
        )
    print(f"server peak memory (master + workers, RSS): {memory.peak / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
