"""A real JupyterHub for the embedded stack: writes its config, starts it and stops it.

NOT FOR PRODUCTION: DummyAuthenticator and SimpleLocalProcessSpawner run every user's server as the hub's own
Unix user; production uses the helm chart (KubeSpawner) in helm/portal.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

# Scopes the portal needs as a Hub service: create users and their servers, reach the servers' API.
PORTAL_SCOPES = ["admin:users", "admin:servers", "access:servers", "read:users"]

CONFIG_TEMPLATE = '''\
# Written by portal/launch/hub.py. NOT FOR PRODUCTION (DummyAuthenticator, SimpleLocalProcessSpawner).
import asyncio
import os

from jupyterhub.spawner import SimpleLocalProcessSpawner

c = get_config()  # noqa: F821


class ReadyLocalProcessSpawner(SimpleLocalProcessSpawner):
    """start() returns once the server listens: the hub's first readiness check then succeeds, instead of
    waiting out its exponential backoff (0.2, 0.4, 0.8, 1.6 s ...) after a server that was already up."""

    async def start(self):
        ip, port = await super().start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while loop.time() < deadline and self.proc.poll() is None:
            try:
                _reader, writer = await asyncio.open_connection(ip or "127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            break
        return ip, port

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.ConfigurableHTTPProxy.auth_token = {proxy_token!r}
c.JupyterHub.db_url = "sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{state}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = "{state}/jupyterhub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allow_all = True
c.JupyterHub.allow_named_servers = True
c.JupyterHub.spawner_class = ReadyLocalProcessSpawner
c.Spawner.ip = "127.0.0.1"
c.Spawner.default_url = "/lab"
c.Spawner.http_timeout = 60
c.Spawner.start_timeout = 120
c.SimpleLocalProcessSpawner.home_dir_template = "{state}/home/{{username}}"
c.JupyterHub.services = [{{"name": "portal", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": "portal-service", "services": ["portal"], "scopes": {scopes!r}}}]

ALLOW_ROOT = {allow_root!r}


def pre_spawn_hook(spawner):
    # The portal passes the built environment and working dir as user_options; each server runs the
    # singleuser server of *its* environment, so the kernel sees that environment's packages.
    opts = spawner.user_options or {{}}
    python = opts.get("python")
    if python:
        spawner.cmd = [python, "-m", "jupyterhub.singleuser"]
    spawner.args = ["--allow-root"] if ALLOW_ROOT else []
    if opts.get("workdir"):
        spawner.notebook_dir = opts["workdir"]
        spawner.home_dir_template = opts["workdir"]
    if opts.get("default_url"):
        spawner.default_url = opts["default_url"]
    spawner.environment.update({{str(k): str(v) for k, v in (opts.get("env") or {{}}).items()}})


c.Spawner.pre_spawn_hook = pre_spawn_hook
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Hub:
    """One JupyterHub process with the portal registered as a service."""

    state_dir: Path
    port: int = 0
    hub_port: int = 0
    proxy_api_port: int = 0
    token: str = ""
    password: str = ""  # DummyAuthenticator's shared password for browser logins (embedded hub only)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/hub/api"

    def write_config(self) -> Path:
        self.state_dir = Path(self.state_dir).resolve()
        (self.state_dir / "home").mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.hub_port = self.hub_port or free_port()
        self.proxy_api_port = self.proxy_api_port or free_port()
        self.token = self.token or secrets.token_hex(32)
        self.password = self.password or secrets.token_urlsafe(12)
        bindir = Path(sys.executable).parent
        config = CONFIG_TEMPLATE.format(
            port=self.port,
            hub_port=self.hub_port,
            proxy_api_port=self.proxy_api_port,
            chp=str(bindir / "configurable-http-proxy"),
            proxy_token=secrets.token_hex(32),
            state=self.state_dir,
            password=self.password,
            token=self.token,
            scopes=PORTAL_SCOPES,
            allow_root=os.geteuid() == 0,
        )
        path = self.state_dir / "jupyterhub_config.py"
        path.write_text(config)
        return path

    def start(self, timeout: float = 60.0) -> Hub:
        config = self.write_config()
        with open(self.state_dir / "jupyterhub.log", "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(config)],
                cwd=self.state_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"JupyterHub exited with {self.process.returncode}; see {self.state_dir / 'jupyterhub.log'}"
                )
            try:
                if requests.get(f"{self.api}/user", headers=self.headers, timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"JupyterHub did not answer within {timeout} s; see {self.state_dir / 'jupyterhub.log'}")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # The hub stops its proxy and the users' servers on SIGTERM; the group kill catches stragglers.
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
