"""`portal stack --distributed`: on one machine, as separate processes, what the Helm chart runs in a cluster.

| chart (helm/portal)                   | here                                                              |
|---------------------------------------|-------------------------------------------------------------------|
| PostgreSQL (CloudNativePG or external)| a PostgreSQL server of its own under `<var_dir>/postgres`          |
| web Deployment, 2+ replicas + Service | 2 `portal serve` processes bound to one port with SO_REUSEPORT     |
| worker Deployment                     | 2 `portal worker` processes                                         |
| migration Job                         | `build_services` migrates once before anything else starts         |
| XRootD StatefulSet                    | Debian's `xrootd` over the data directory (when installed)         |
| dask-gateway dependency               | `dask-gateway-server` with its local process backend               |
| zero-to-jupyterhub dependency         | the embedded JupyterHub (when launches are on)                     |

Two web processes share the port through SO_REUSEPORT rather than a proxy in front of them: the kernel spreads
new connections over both listening sockets, and when one process dies its socket goes with it, so new
connections reach the survivor with no proxy to health-check, restart or become the single point of failure
(a Kubernetes Service does the same job in the chart). One gunicorn with 2 workers would be one process tree:
killing its master takes both down, which is what this mode exists to rehearse.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import click

from portal.settings import Settings


class DistributedStack:
    """Start and stop the processes; ``webs`` and ``workers`` are the `Popen`s (a test kills some of them)."""

    def __init__(
        self,
        settings: Settings,
        *,
        webs: int = 2,
        workers: int = 2,
        xrootd: bool = True,
        gateway: bool = True,
        hub: bool = True,
    ) -> None:
        self.settings = settings
        self.n_webs, self.n_workers = webs, workers
        self.with_xrootd, self.with_gateway, self.with_hub = xrootd, gateway, hub
        self.webs: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self._stoppable: list[Any] = []  # servers with a stop() method, stopped last-started first

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def start(self, *, load_demo: bool = False) -> DistributedStack:
        from portal.db.server import PostgresServer
        from portal.services import build_services
        from portal.stack import ensure_first_admin, ensure_secrets, load_demo_catalogue, load_demo_data

        var = Path(self.settings.var_dir)
        var.mkdir(parents=True, exist_ok=True)
        postgres = PostgresServer(var / "postgres").start()
        self._stoppable.append(postgres)
        click.secho(f"PostgreSQL on 127.0.0.1:{postgres.port} (data in {postgres.data})", fg="green")
        settings = ensure_secrets(self.settings.with_overrides(database_url=postgres.url))
        svc = build_services(settings)  # the migration Job's part: once, before any other process
        if svc.search.missing():
            svc.search.reindex()
        ensure_first_admin(svc)
        svc.close()
        settings = self._start_servers(settings)
        self.settings = settings
        if load_demo:
            load_demo_catalogue(settings)
            load_demo_data(settings)
        for i in range(self.n_webs):
            self.webs.append(self.start_web(i))
        self._wait_ready()
        for _ in range(self.n_workers):
            self.workers.append(self.start_worker())
        return self

    def _start_servers(self, settings: Settings) -> Settings:
        from portal.stack import start_hub, start_xrootd

        if self.with_xrootd:
            settings, xrootd = start_xrootd(settings)
            if xrootd is not None:
                self._stoppable.append(xrootd)
        if self.with_hub:
            settings, hub = start_hub(settings)
            if hub is not None:
                self._stoppable.append(hub)
        # after the hub: the gateway checks sessions' hub tokens against its API (launch_hub_url)
        if self.with_gateway and not settings.gateway_url:
            from portal.processing.gateway import GatewayServer

            gateway = GatewayServer(settings, Path(settings.var_dir) / "gateway").start()
            self._stoppable.append(gateway)
            settings = settings.with_overrides(gateway_url=gateway.url)
            click.secho(f"Dask Gateway on {gateway.url}", fg="green")
        return settings

    def _env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, **self.settings.environ(), **extra}

    def start_web(self, index: int) -> subprocess.Popen[bytes]:
        """A `portal serve` process of one gunicorn worker on the shared port (SO_REUSEPORT)."""
        # each process keeps its own metrics, as each pod does (its own multiprocess directory)
        metrics = Path(self.settings.var_dir) / f"prometheus-web{index}"
        metrics.mkdir(parents=True, exist_ok=True)
        for stale in metrics.glob("*.db"):
            stale.unlink()
        command = [sys.executable, "-m", "portal", "serve", "--workers", "1", "--threads", "8", "--reuse-port"]
        return subprocess.Popen(command, env=self._env(PROMETHEUS_MULTIPROC_DIR=str(metrics)))

    def start_worker(self) -> subprocess.Popen[bytes]:
        from portal.stack import start_worker_process

        return start_worker_process(self.settings)

    def _wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [p for p in self.webs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"a web process exited with {dead[0].returncode} while starting")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the web processes did not answer on {self.url} within {timeout:.0f} s")

    def stop(self) -> None:
        from portal.stack import stop_process

        for process in [*self.workers, *self.webs]:
            stop_process(process, grace=40)
        for server in reversed(self._stoppable):
            server.stop()
        self._stoppable.clear()

    def __enter__(self) -> DistributedStack:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def run_distributed(settings: Settings, *, load_demo: bool | None = None) -> None:
    """Run the distributed stack until SIGINT or SIGTERM; a process that dies is reported, not restarted (the
    point is to see the others carry on)."""
    stack = DistributedStack(settings)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        stack.start(load_demo=settings.load_demo if load_demo is None else load_demo)
        click.secho(
            f"portal on {stack.url}/ ({len(stack.webs)} web processes sharing the port, "
            f"{len(stack.workers)} workers); Ctrl-C stops everything",
            fg="green",
        )
        reported: set[int] = set()
        while not stopping.wait(2):
            for process in [*stack.webs, *stack.workers]:
                if process.poll() is not None and process.pid not in reported:
                    reported.add(process.pid)
                    click.secho(f"process {process.pid} exited with {process.returncode}", fg="yellow", err=True)
    finally:
        stack.stop()
