"""The embedded Dask Gateway: a real `dask-gateway-server` whose local backend runs each user's scheduler and
workers as processes on this machine, with per-user limits. In a cluster the same gateway runs with its
Kubernetes backend (the dask-gateway Helm chart) and authenticates through JupyterHub, as DaskHub does.

Two ways in, as DaskHub (:mod:`portal.processing.gateway_auth`): the portal with a shared password that only it
knows (generated into ``var/gateway/``, mode 0600), signed in as the hub user of the person who started the
analysis, and that person's notebook sessions with their JupyterHub API token, checked against the hub. Both
open the same cluster, one per person. Sessions get the gateway's address
(:func:`portal.launch.jupyterhub.gateway_environment`), never the password."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from portal.errors import Unavailable
from portal.i18n import N_
from portal.settings import Settings
from portal.storage.server import free_port


def gateway_password(settings: Settings) -> str:
    """The configured shared secret, or the one generated once into ``var/gateway/password`` (0600)."""
    if settings.gateway_password:
        return settings.gateway_password
    path = Path(settings.var_dir) / "gateway" / "password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def hub_api_url(settings: Settings) -> str:
    """The REST API of the hub whose users' tokens the gateway accepts (empty: no hub, the portal only)."""
    return f"{settings.launch_hub_url.rstrip('/')}/hub/api" if settings.launch_hub_url else ""


def server_config(
    settings: Settings, *, api_port: int, proxy_port: int, environment: dict[str, str] | None = None
) -> str:
    """The gateway's traitlets configuration: loopback addresses, the local process backend, per-user limits,
    the portal's password and the hub's API (``launch_hub_url``, when there is a hub) to check sessions' tokens.
    ``environment``: extra variables for the schedulers and workers (e.g. a PYTHONPATH)."""
    bindir = Path(sys.executable).parent
    lines = {
        # the application's class is DaskGateway: options under any other name (`c.Gateway`) are ignored
        "c.DaskGateway.address": f"127.0.0.1:{api_port}",
        "c.Proxy.address": f"127.0.0.1:{proxy_port}",
        # processes as the gateway's own user (LocalBackend would run them as the requesting system user,
        # which needs a system account per portal user: the hub's per-user accounts could serve, see README)
        "c.DaskGateway.backend_class": "dask_gateway_server.backends.local.UnsafeLocalBackend",
        "c.DaskGateway.authenticator_class": "portal.processing.gateway_auth.PortalOrHubAuthenticator",
        "c.PortalOrHubAuthenticator.password": gateway_password(settings),
        "c.PortalOrHubAuthenticator.jupyterhub_api_url": hub_api_url(settings),
        # current distributed has no `dask-scheduler` command: start both through `dask`
        "c.LocalClusterConfig.scheduler_cmd": [str(bindir / "dask"), "scheduler"],
        "c.LocalClusterConfig.worker_cmd": [str(bindir / "dask"), "worker"],
        "c.LocalClusterConfig.cluster_start_timeout": 120,
        "c.LocalClusterConfig.worker_start_timeout": 120,
        "c.ClusterConfig.worker_cores": 1,
        "c.ClusterConfig.worker_threads": 1,
        "c.ClusterConfig.worker_memory": settings.gateway_worker_memory,
        # limits are per cluster: dask-gateway-server has no limit on a user's number of clusters (no
        # `UserLimits`); the executor reuses a person's running cluster rather than starting another
        "c.ClusterConfig.cluster_max_workers": settings.gateway_max_workers,
        "c.ClusterConfig.idle_timeout": settings.gateway_idle_timeout,
        "c.ClusterConfig.environment": dict(environment or {}),
        "c.DaskGateway.log_level": "WARN",  # its spelling
    }
    return "".join(f"{key} = {value!r}\n" for key, value in lines.items())


class GatewayServer:
    """``dask-gateway-server`` as a child process; ``url`` is the address clients use."""

    def __init__(self, settings: Settings, state_dir: Path, environment: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.environment = environment
        self.state_dir = state_dir
        self.proxy_port = free_port()
        self.api_port = free_port()
        self.url = f"http://127.0.0.1:{self.proxy_port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> GatewayServer:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        config = self.state_dir / "dask_gateway_config.py"
        config.write_text(
            server_config(
                self.settings, api_port=self.api_port, proxy_port=self.proxy_port, environment=self.environment
            )
        )
        config.chmod(0o600)  # it holds the shared secret
        log = open(self.state_dir / "gateway.log", "ab")  # noqa: SIM115 - the child writes it until stop()
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "dask-gateway-server"), "-f", str(config)],
            cwd=self.state_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Unavailable(
                    N_("dask-gateway-server exited with {process_returncode}; see {log_name}"),
                    process_returncode=self.process.returncode,
                    log_name=log.name,
                )
            # the proxy listens before it has fetched the API's routes (it answers 404 until then): ready is
            # when the gateway's own health check passes through it
            try:
                with urllib.request.urlopen(f"{self.url}/api/health", timeout=2) as resp:
                    if json.load(resp).get("status") == "pass":
                        return self
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        self.stop()
        raise Unavailable(
            N_("dask-gateway-server did not listen within {timeout:.0f} s; see {log_name}"),
            timeout=timeout,
            log_name=log.name,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # it stops the clusters it started
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
