"""What the benchmarks that time the portal against a comparator client share: running in a loopback-only network
namespace (the XRootD server binds every interface), a free port, a warm page cache, `portal serve` started and
stopped around the runs, and medians of timed runs. Not a benchmark itself (the leading underscore keeps
`python -m benchmarks` from running it)."""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from portal.storage.server import only_loopback

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def isolated(benchmark: str) -> bool:
    """Whether this process may run ``benchmark`` here: True inside a loopback-only network namespace. Otherwise
    the benchmark is run again in one (tests/run-isolated, as root) or skipped with a note, and False is returned:
    the caller returns at once."""
    if only_loopback():
        return True
    if os.geteuid() == 0 and shutil.which("ip"):
        runner = [str(ROOT / "tests" / "run-isolated"), sys.executable, "-m", "benchmarks", benchmark]
        subprocess.run(runner, check=True, cwd=ROOT)
    else:
        print("skipped: needs root to run xrootd in a loopback-only network namespace")
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def warm(paths: Iterable[Path]) -> None:
    """Read the files once, so every client is timed on a warm page cache (not the first one on a cold one)."""
    for path in paths:
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)


@contextmanager
def portal_serving(env: dict[str, str], port: int, *, workers: int, threads: int, ready: str) -> Iterator[str]:
    """`portal serve` (gunicorn) on 127.0.0.1:``port`` with ``env``, until the path ``ready`` answers; yields its
    base URL and stops it afterwards (its workers first, killed when they do not stop in 30 s)."""
    base = f"http://127.0.0.1:{port}"
    command = [str(BIN / "portal"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    web = subprocess.Popen(
        [*command, "--workers", str(workers), "--threads", str(threads)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            if subprocess.run(["curl", "-sf", "-o", "/dev/null", base + ready]).returncode == 0:
                break
            time.sleep(0.2)
        yield base
    finally:
        web.terminate()
        try:
            web.wait(30)
        except subprocess.TimeoutExpired:
            web.kill()
            web.wait()


def seconds(run: Callable[[], object]) -> float:
    """Wall-clock seconds of one call of ``run``."""
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def median_of(run: Callable[[], object], runs: int) -> float:
    """The median of ``runs`` timed calls of ``run``, in seconds."""
    return statistics.median(seconds(run) for _ in range(runs))


def command(cmd: list[str]) -> Callable[[], None]:
    """A client run as a process, its output thrown away (a failure raises)."""

    def run() -> None:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    return run
