"""N clients downloading the same file at the same time over a real socket are counted as exactly N downloads:
in the usage statistics (COUNTER rules: each client is its own visitor) and in the Prometheus counter - none
lost to a race between request threads, none doubled. (benchmarks/load.py measures the same traffic under
locust; this is the assertion.)"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client import REGISTRY

from portal.app import services_of
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.live import live_server

N = 12
SIZE = 4 << 20


@pytest.fixture
def app_settings(tmp_path):
    return {"data_dir": str(tmp_path / "data"), "stats_flush_interval": 0.05, "ratelimit_enabled": False}


def test_n_concurrent_downloads_count_as_exactly_n(app, tmp_path):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    payload = os.urandom(SIZE)
    (data / "big.bin").write_bytes(payload)
    svc = services_of(app)
    load_file(
        svc,
        write_records(tmp_path / "r.json", [dataset(5, files=[{"uri": f"file://{data / 'big.bin'}", "size": SIZE}])]),
    )
    before = REGISTRY.get_sample_value("portal_downloads_total") or 0.0
    start = threading.Barrier(N)

    with live_server(app) as url:

        def fetch(i: int) -> bytes:
            start.wait(30)  # all N in flight together
            agent = f"Mozilla/5.0 (X11; Linux x86_64; client {i}) Firefox/130.0"
            with requests.get(f"{url}/record/5/files/big.bin", headers={"User-Agent": agent}, timeout=120) as r:
                r.raise_for_status()
                return r.content

        with ThreadPoolExecutor(N) as pool:
            bodies = list(pool.map(fetch, range(N)))

    assert all(body == payload for body in bodies)
    assert (REGISTRY.get_sample_value("portal_downloads_total") or 0.0) - before == N
    svc.stats.flush()
    svc.stats.aggregate()
    counted = svc.stats.record_stats(5).version["download"]
    assert counted.events == N and counted.unique_visitors == N and counted.volume == N * SIZE, counted
