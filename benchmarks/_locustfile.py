"""Locust scenarios of `benchmarks/load.py` (run by locust's own CLI in a process of its own: locust patches
the standard library with gevent, which must not leak into the other benchmarks).

Environment: LOAD_RECIDS (comma-separated record ids to browse), LOAD_FILE (path of the large file to download
with Range), LOAD_FILE_SIZE (its size in bytes); for launches and analyses LOAD_TOKEN (a personal access token
with the `launch` and `analyses:run` scopes), LOAD_DATASET (the record analyses run on), LOAD_ENV (the environment
launched), LOAD_HUB_API and LOAD_HUB_TOKEN (the hub's REST API, to stop each server once it is ready),
LOAD_LAUNCH_USERS and LOAD_ANALYSIS_USERS (how many of the users launch and submit analyses).
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from urllib.parse import urlsplit

import requests
from locust import HttpUser, between, task

RECIDS = [int(r) for r in os.environ.get("LOAD_RECIDS", "1").split(",")]
FILE = os.environ.get("LOAD_FILE", "/record/1/files/big.bin")
FILE_SIZE = int(os.environ.get("LOAD_FILE_SIZE", "1"))
WORDS = ("muon", "dimuon", "electron", "jet", "higgs", "collision", "year:>2010", "title:dataset")
TOKEN = re.compile(rb"<resumptionToken[^>]*>([^<]+)</resumptionToken>")
RANGE = 1 << 20
TOKEN_HEADER = {"Authorization": f"Bearer {os.environ.get('LOAD_TOKEN', '')}"}
#: launch pages count browsers' launches (robots' are not); the launch events are read as the page's EventSource does
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
JOB_TIMEOUT = 300.0
LAUNCH_TIMEOUT = 300.0


class Browser(HttpUser):
    """Someone browsing: home, search pages and the JSON search, record pages and their API answers."""

    weight = 6
    wait_time = between(0.1, 0.5)

    @task(3)
    def search(self) -> None:
        self.client.get(f"/search?q={random.choice(WORDS)}", name="/search?q=")

    @task(3)
    def api_search(self) -> None:
        self.client.get(f"/api/records?q={random.choice(WORDS)}&size=20", name="/api/records?q=")

    @task(3)
    def record(self) -> None:
        self.client.get(f"/record/{random.choice(RECIDS)}", name="/record/<recid>")

    @task(2)
    def api_record(self) -> None:
        self.client.get(f"/api/records/{random.choice(RECIDS)}", name="/api/records/<recid>")

    @task(1)
    def home(self) -> None:
        self.client.get("/", name="/")


class Downloader(HttpUser):
    """Parallel download clients: 1 MiB ranges of a large file at random offsets (as resuming or parallel
    clients do); every answer must be a 206 of exactly the bytes asked for."""

    weight = 2
    wait_time = between(0.0, 0.1)

    @task
    def ranged(self) -> None:
        start = random.randrange(0, max(1, FILE_SIZE - RANGE))
        end = min(FILE_SIZE, start + RANGE) - 1
        with self.client.get(
            FILE, headers={"Range": f"bytes={start}-{end}"}, name="download (Range)", catch_response=True
        ) as r:
            if r.status_code != 206 or len(r.content) != end - start + 1:
                r.failure(f"expected 206 with {end - start + 1} bytes, got {r.status_code} with {len(r.content)}")


class Harvester(HttpUser):
    """An OAI-PMH harvester: ListRecords followed through its resumption tokens to the end."""

    weight = 1
    wait_time = between(0.5, 1.0)

    @task
    def harvest(self) -> None:
        r = self.client.get("/oai2d?verb=ListRecords&metadataPrefix=oai_dc", name="/oai2d ListRecords")
        for _ in range(50):
            found = TOKEN.search(r.content)
            if not found:
                break
            token = found.group(1).decode()
            r = self.client.get(f"/oai2d?verb=ListRecords&resumptionToken={token}", name="/oai2d ListRecords (token)")


class Analyst(HttpUser):
    """Someone running analyses through the API: POST /api/analyses with a token, then polling the job until it
    ends. The whole job (submission to its end, as the submitter waits) is one more line of the statistics."""

    fixed_count = int(os.environ.get("LOAD_ANALYSIS_USERS", "0"))
    wait_time = between(0.5, 1.5)

    @task
    def analyse(self) -> None:
        started = time.perf_counter()
        body = {"analysis": "dimuon", "dataset": int(os.environ.get("LOAD_DATASET", "0"))}
        with self.client.post("/api/analyses", json=body, headers=TOKEN_HEADER, catch_response=True) as r:
            if r.status_code != 202:
                r.failure(f"expected 202, got {r.status_code}: {r.text[:200]}")
                return
            job = r.json()
        state, error = job.get("state"), None
        while state not in ("done", "failed", "cancelled"):
            if time.perf_counter() - started > JOB_TIMEOUT:
                error = f"job {job['id']} still {state} after {JOB_TIMEOUT:.0f} s"
                break
            time.sleep(0.5)
            polled = self.client.get(f"/api/analyses/{job['id']}", headers=TOKEN_HEADER, name="/api/analyses/<id>")
            if polled.ok:
                job = polled.json()
                state = job.get("state")
        if error is None and state != "done":
            error = f"job {job['id']} ended {state}: {str(job.get('error'))[:200]}"
        self.environment.events.request.fire(
            request_type="JOB",
            name="analysis job (submit -> end)",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=RuntimeError(error) if error else None,
            context={},
        )


class Launcher(HttpUser):
    """A visitor launching an environment: the launch page's event stream read to `ready` (build or cache hit,
    then a server on the hub), counted as one request from the first byte asked to `ready`; the server is then
    stopped through the hub's API (and waited for) so that launches do not pile up servers.

    Anonymous, as a first-time visitor is: each launch is a new hub user with a server of its own. Launches as
    one signed-in user would share its server of the environment (a second launch finds it running) and collide
    with its stop (the hub refuses a start while the same server is stopping)."""

    fixed_count = int(os.environ.get("LOAD_LAUNCH_USERS", "0"))
    wait_time = between(1.0, 3.0)

    @task
    def launch(self) -> None:
        env = os.environ.get("LOAD_ENV", "education")
        headers = {"User-Agent": BROWSER_UA, "Accept": "text/event-stream"}
        last: dict[str, object] = {}
        with self.client.get(
            f"/launch/env/{env}/events",
            headers=headers,
            stream=True,
            name="launch (events -> ready)",
            catch_response=True,
            timeout=LAUNCH_TIMEOUT,
        ) as r:
            if r.status_code != 200:
                r.failure(f"expected 200, got {r.status_code}: {r.text[:200]}")
                return
            for line in r.iter_lines(decode_unicode=True):
                if line and line.startswith("data: "):
                    last = json.loads(line[6:])
                    if last.get("phase") in ("ready", "failed"):
                        break
            if last.get("phase") != "ready":
                r.failure(f"launch ended {last.get('phase')}: {str(last.get('message'))[:200]}")
                return
            r.success()
        self._stop(str(last.get("url") or ""))

    def _stop(self, server_url: str) -> None:
        # <hub>/user/<user>/<server>/...: the named server to stop
        parts = urlsplit(server_url).path.strip("/").split("/")
        if len(parts) < 3 or parts[0] != "user":
            return
        user, server = parts[1], parts[2]
        api = os.environ.get("LOAD_HUB_API", "")
        hub = {"Authorization": f"token {os.environ.get('LOAD_HUB_TOKEN', '')}"}
        started = time.perf_counter()
        requests.delete(f"{api}/users/{user}/servers/{server}", headers=hub, timeout=60)
        deadline, error = time.monotonic() + 60, "still there after 60 s"
        while time.monotonic() < deadline:
            found = requests.get(f"{api}/users/{user}", headers=hub, timeout=60)
            if not found.ok or server not in found.json().get("servers", {}):
                error = ""
                break
            time.sleep(0.5)
        # the hub's own work (not the portal's), listed so that the launchers' pace is explained
        self.environment.events.request.fire(
            request_type="HUB",
            name="hub: server stopped",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=RuntimeError(error) if error else None,
            context={},
        )
