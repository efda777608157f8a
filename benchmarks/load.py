"""Load: locust (headless, loopback, bounded users and time) against a real gunicorn server.

Scenarios (benchmarks/_locustfile.py): browsing and search (pages and the JSON API), parallel downloads of
1 MiB ranges of a 64 MiB file, and OAI-PMH harvests followed through their resumption tokens, mixed 6:2:1 by
users; plus a fixed number of users launching an environment anonymously (the launch page's event stream read
to `ready`, then the server stopped) and of users submitting the dimuon analysis through `POST /api/analyses` with a
personal access token and polling the job to its end. The catalogue: 300 datasets on SQLite and one dataset of
the generated `tiny` NanoAOD-like ROOT files (2 x 5,000 events), ingested. The benchmark starts what those need:
the server `portal serve --workers 2 --threads 8`, one `portal worker` (PORTAL_WORKER_CONCURRENCY jobs at
once, the `inline` executor: each job in a worker thread, no Dask cluster on a 2-core machine), and a JupyterHub
(`portal.launch.hub.Hub`, local process spawner) that launches build on with the venv builder; one launch before
the run warms the environment's build cache, so launches in the mix are cache hits plus a server start. Rate
limits and the per-user quotas of jobs and launches are off (they would turn the load into 429s).

Prints throughput, p50/p95/p99 and error rate per scenario and in total, the analysis jobs finished (done,
failed, left unfinished at the end), and the peak memory of the web server (resident set of the gunicorn
master and its workers), of the job worker and of the hub with its notebook servers (sampled every 0.5 s).

Knobs: LOAD_USERS (default 20, of which LOAD_LAUNCH_USERS, default 2, launch and LOAD_ANALYSIS_USERS, default
2, submit analyses; each at least 1), LOAD_SECONDS (default 30), LOAD_JOBS_AT_ONCE (the worker's concurrency,
default 2). Run: `tests/run-isolated .venv/bin/python -m benchmarks.load` (loopback-only network namespace).
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
from typing import Any
from urllib.parse import urlsplit

import psutil
import requests

FILE_MIB = 64
RECORDS = 300
WORDS = ("muon", "dimuon", "electron", "jet", "higgs", "collision")
DATASET = RECORDS + 1  # the record the analyses run on
ENV = "education"  # the environment launched (analysis_envs/education)
#: as benchmarks/_locustfile.py's (not imported from there: importing locust patches this process with gevent)
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


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
    records.append(
        {
            "recid": DATASET,
            "title": "Dimuon events of the load benchmark",
            "type": {"primary": "Dataset", "secondary": ["Collision"]},
            "experiment": ["CMS"],
            "date_published": "2026",
        }
    )
    (top / "r.json").write_text(json.dumps(records))
    return [r["recid"] for r in records]


def _portal(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(Path(sys.executable).parent / "portal"), *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"portal {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def _launch_once(url: str, token: str, hub: Any) -> None:
    """One launch to the end, then its server stopped: the environment's build is then in the cache."""
    headers = {"Authorization": f"Bearer {token}", "User-Agent": BROWSER_UA}
    last: dict[str, Any] = {}
    with requests.get(f"{url}/launch/env/{ENV}/events", headers=headers, stream=True, timeout=600) as r:
        r.raise_for_status()
        for line in r.iter_lines(decode_unicode=True):
            if line and line.startswith("data: "):
                last = json.loads(line[6:])
                if last.get("phase") in ("ready", "failed"):
                    break
    if last.get("phase") != "ready":
        raise SystemExit(f"the warm-up launch did not get ready: {last}")
    _, user, server = urlsplit(str(last["url"])).path.strip("/").split("/")[:3]
    requests.delete(f"{hub.api}/users/{user}/servers/{server}", headers=hub.headers, timeout=60)
    for _ in range(120):  # stopped before the run starts, so that it does not count in the hub's memory
        if server not in requests.get(f"{hub.api}/users/{user}", headers=hub.headers, timeout=60).json()["servers"]:
            return
        time.sleep(0.5)


def _jobs(url: str, token: str) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {token}"}
    return {
        state: requests.get(f"{url}/api/analyses?state={state}&size=1", headers=headers, timeout=60).json()["total"]
        for state in ("done", "failed", "queued", "running")
    }


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
    from portal.demo.generate import generate
    from portal.launch.hub import Hub

    users = int(os.environ.get("LOAD_USERS", "20"))
    seconds = int(os.environ.get("LOAD_SECONDS", "30"))
    launchers = max(1, int(os.environ.get("LOAD_LAUNCH_USERS", "2")))
    analysts = max(1, int(os.environ.get("LOAD_ANALYSIS_USERS", "2")))
    at_once = int(os.environ.get("LOAD_JOBS_AT_ONCE", "2"))
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        top = Path(tmp)
        recids = _catalogue(top)
        generate("tiny", top / "data" / "dimuon", formats=("root",))
        hub = Hub(top / "hub").start()
        port = _free_port()
        env = {
            **os.environ,
            "PORTAL_VAR_DIR": str(top / "var"),
            "PORTAL_DATA_DIR": str(top / "data"),
            "PORTAL_PORT": str(port),
            "PORTAL_RATELIMIT_ENABLED": "false",
            "PORTAL_QUOTA_JOBS_PER_USER": "0",
            "PORTAL_QUOTA_LAUNCHES_PER_USER": "0",
            "PORTAL_QUOTA_LAUNCHES_ANONYMOUS": "0",  # every locust user is 127.0.0.1
            "PORTAL_PROCESSING_EXECUTOR": "inline",
            "PORTAL_WORKER_CONCURRENCY": str(at_once),
            "PORTAL_LAUNCH_HUB_URL": hub.url,
            "PORTAL_LAUNCH_HUB_TOKEN": hub.token,
            "PORTAL_LAUNCH_BUILDER": "venv",
        }
        web = worker = None
        try:
            _portal(env, "records", "load", str(top / "r.json"))
            _portal(env, "ingest", str(DATASET), "dimuon")
            _portal(env, "users", "create", "loaduser", "--generate-password")
            # analyses:run for the analysts; launch for the warm-up launch (the mix's launches are anonymous)
            token = _portal(env, "tokens", "create", "loaduser", "--scope", "analyses:run", "--scope", "launch")
            token = token.strip().splitlines()[-1]
            web = subprocess.Popen(
                [str(bin_dir / "portal"), "serve", "--workers", "2", "--threads", "8"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            worker = subprocess.Popen(
                [str(bin_dir / "portal"), "worker", "--no-periodic", "--grace", "5"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            url = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    if requests.get(f"{url}/readyz", timeout=10).status_code == 200:
                        break
                except requests.RequestException:  # not listening yet, or still starting its workers
                    pass
                time.sleep(0.2)
            warm = time.perf_counter()
            _launch_once(url, token, hub)  # builds the environment once: the mix's launches are cache hits
            warm_s = time.perf_counter() - warm
            locust_env = {
                **os.environ,
                "LOAD_RECIDS": ",".join(map(str, recids)),
                "LOAD_FILE": "/record/1/files/big.bin",
                "LOAD_FILE_SIZE": str(FILE_MIB << 20),
                "LOAD_TOKEN": token,
                "LOAD_DATASET": str(DATASET),
                "LOAD_ENV": ENV,
                "LOAD_HUB_API": hub.api,
                "LOAD_HUB_TOKEN": hub.token,
                "LOAD_LAUNCH_USERS": str(launchers),
                "LOAD_ANALYSIS_USERS": str(analysts),
            }
            prefix = top / "locust"
            assert hub.process is not None
            with (
                MemoryPeak(web.pid) as memory,
                MemoryPeak(worker.pid) as worker_memory,
                MemoryPeak(hub.process.pid) as hub_memory,
            ):
                ran = subprocess.run(
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
                        "--stop-timeout",
                        "60",
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
                    text=True,
                    timeout=seconds + 300,
                )
            jobs = _jobs(url, token)
            if not (top / "locust_stats.csv").exists():
                raise SystemExit(f"locust wrote no statistics: {ran.stderr.strip()[-2000:]}")
            rows = list(csv.DictReader((top / "locust_stats.csv").open()))
            failures = list(csv.DictReader((top / "locust_failures.csv").open()))
        finally:
            for process in (web, worker):
                if process is None:
                    continue
                process.terminate()
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            hub.stop()
    print(
        f"locust: {users} users ({launchers} launching, {analysts} submitting analyses) for {seconds}s on loopback; "
        f"gunicorn 2 workers x 8 threads; 1 job worker ({at_once} jobs at once, inline executor); {RECORDS} records, "
        f"{FILE_MIB} MiB file; analyses: dimuon over 2 x 5,000 events"
    )
    print(f"warm-up launch (venv build of {ENV} + server start): {warm_s:.1f} s")
    print(f"{'scenario':<34}{'requests':>9}{'req/s':>8}{'errors':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}")
    for row in rows:
        count = int(row["Request Count"])
        errors = int(row["Failure Count"])
        print(
            f"{row['Name'][:33]:<34}{count:>9}{float(row['Requests/s']):>8.1f}"
            f"{(errors / count if count else 0):>8.1%}{row['50%']:>8}{row['95%']:>8}{row['99%']:>8}"
        )
    for failure in failures:  # what went wrong, once per distinct error
        print(f"  failed {failure['Occurrences']}x {failure['Name']}: {failure['Error'][:160]}")
    print(
        f"analysis jobs: {jobs['done']} done, {jobs['failed']} failed, "
        f"{jobs['queued'] + jobs['running']} unfinished when the run ended"
    )
    print(f"server peak memory (master + workers, RSS): {memory.peak / 2**20:.0f} MiB")
    print(f"job worker peak memory (RSS): {worker_memory.peak / 2**20:.0f} MiB")
    print(f"hub peak memory (hub, proxy and notebook servers, RSS): {hub_memory.peak / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
