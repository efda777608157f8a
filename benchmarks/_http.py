"""Helpers of the HTTP benchmarks: a real `portal serve` (gunicorn) on a free port, timed GETs, percentiles."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def stats_ms(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    at = lambda q: ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000  # noqa: E731
    return statistics.median(ordered) * 1000, at(0.95), at(0.99)


def timed(http: requests.Session, urls: Callable[[int], str], n: int) -> list[float]:
    """``n`` sequential GETs of ``urls(k)`` (the whole body read); a status other than 200 stops the run."""
    samples = []
    for k in range(n):
        t0 = time.perf_counter()
        r = http.get(urls(k), timeout=120)
        r.content  # noqa: B018 - the whole body is part of the request's time
        samples.append(time.perf_counter() - t0)
        if r.status_code != 200:
            raise RuntimeError(f"{urls(k)} answered {r.status_code}: {r.text[:300]}")
    return samples


def serve(url: str, tmp: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    """`portal serve` (2 workers x 4 threads, rate limits off) on database ``url``: the process, its base URL and
    the seconds until /readyz answered 200 six times in a row. Its log is ``tmp/serve.log``."""
    port = free_port()
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": url,
        "PORTAL_VAR_DIR": str(tmp / "var"),
        "PORTAL_DATA_DIR": str(tmp / "data"),
        "PORTAL_RATELIMIT_ENABLED": "false",
    }
    log = (tmp / "serve.log").open("wb")
    portal = str(Path(sys.executable).with_name("portal"))
    t0 = time.perf_counter()
    web = subprocess.Popen(
        [portal, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--threads", "4"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    ready = 0
    # /readyz answers 200 once a worker's search snapshot is built; several in a row: both workers are ready.
    while ready < 6:
        if web.poll() is not None:
            raise RuntimeError(f"portal serve exited: {(tmp / 'serve.log').read_text()[-2000:]}")
        try:
            ok = requests.get(f"{base}/readyz", timeout=60).status_code == 200
        except requests.RequestException:
            ok = False
        ready = ready + 1 if ok else 0
        time.sleep(0.1 if ok else 0.5)
    return web, base, time.perf_counter() - t0


def stop(web: subprocess.Popen[bytes]) -> None:
    web.terminate()
    try:
        web.wait(60)  # gunicorn stops its workers first
    except subprocess.TimeoutExpired:
        web.kill()
        web.wait()
