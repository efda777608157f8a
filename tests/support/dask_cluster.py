"""A real Dask scheduler and worker processes started from the CLI on 127.0.0.1, for processing tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from portal.storage.server import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class DaskProcesses:
    address: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [
                str(BIN / "dask"),
                "worker",
                self.address,
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                "--host",
                "127.0.0.1",
                "--no-dashboard",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        return proc


@contextmanager
def dask_processes(workers: int = 2, timeout: float = 60.0) -> Iterator[DaskProcesses]:
    """``dask scheduler`` + ``workers`` ``dask worker`` processes (each under a nanny that restarts it)."""
    from distributed import Client

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sched = subprocess.Popen(
        [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cluster = DaskProcesses(f"tcp://127.0.0.1:{port}", [sched])
    try:
        for _ in range(workers):
            cluster.start_worker()
        deadline = time.time() + timeout
        with Client(cluster.address, timeout=f"{timeout}s") as client:
            client.wait_for_workers(workers, timeout=max(1.0, deadline - time.time()))
        yield cluster
    finally:
        for proc in reversed(cluster.procs):
            proc.terminate()
        for proc in cluster.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
