"""Locust scenarios of `benchmarks/load.py` (run by locust's own CLI in a process of its own: locust patches
the standard library with gevent, which must not leak into the other benchmarks).

Environment: LOAD_RECIDS (comma-separated record ids to browse), LOAD_FILE (path of the large file to download
with Range), LOAD_FILE_SIZE (its size in bytes).
"""

from __future__ import annotations

import os
import random
import re

from locust import HttpUser, between, task

RECIDS = [int(r) for r in os.environ.get("LOAD_RECIDS", "1").split(",")]
FILE = os.environ.get("LOAD_FILE", "/record/1/files/big.bin")
FILE_SIZE = int(os.environ.get("LOAD_FILE_SIZE", "1"))
WORDS = ("muon", "dimuon", "electron", "jet", "higgs", "collision", "year:>2010", "title:dataset")
TOKEN = re.compile(rb"<resumptionToken[^>]*>([^<]+)</resumptionToken>")
RANGE = 1 << 20


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
