"""A real JupyterHub for the embedded stack: writes its config, starts it and stops it.

With ``portal_url`` set, people sign in to the hub through the portal (its OAuth2 provider, oauthenticator's
GenericOAuthenticator); with ``system_users`` (root only) each hub user's servers run as their own unprivileged
system user, created on first launch with a private home under ``homes``, as The Littlest JupyterHub does.
Without them (tests of the launcher alone) it is DummyAuthenticator and every server runs as the hub's user.
Production uses the helm chart (KubeSpawner) in helm/portal, with the hub and the portal on the site's IdP.
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
from typing import Any

import requests

# Scopes the portal needs as a Hub service: create users and their servers, reach the servers' API.
PORTAL_SCOPES = ["admin:users", "admin:servers", "access:servers", "read:users"]

CONFIG_TEMPLATE = """\
# Written by portal/launch/hub.py for the embedded stack. Production uses helm/portal (KubeSpawner).
import asyncio
import inspect
import os
import pwd
import subprocess
import sys
import time

from jupyterhub.spawner import LocalProcessSpawner, SimpleLocalProcessSpawner
from traitlets.log import get_logger

c = get_config()  # noqa: F821

SYSTEM_USERS = {system_users!r}  # each hub user's servers run as their own unprivileged system user
HOMES = {homes!r}  # their homes (mode 0700), each holding the user's sessions' working directories
ANON_PREFIX = "anon-"


def ensure_system_user(name):
    \"\"\"The system user of hub user ``name``, created on first launch as The Littlest JupyterHub does: no
    password, no login shell, a private home under HOMES; what the portal wrote there is handed over to it.\"\"\"
    home = os.path.join(HOMES, name)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--home-dir", home, "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group",
             "--comment", "portal session user", name],
            check=True, capture_output=True,
        )
        entry = pwd.getpwnam(name)
    os.makedirs(home, exist_ok=True)
    # never follow links: a session's data/ links point at the portal's files, which stay the portal's
    for root, dirs, files in os.walk(home):
        for item in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
            os.chown(item, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    os.chmod(home, 0o700)
    return entry


def remove_system_user(name):
    \"\"\"An anonymous hub user's system user and home go with it (culled when idle). userdel refuses a user
    whose processes still run (a kernel or the server still exiting after the cull's stop), which left the user
    behind for good: its processes are killed first, and the removal retried while they exit.\"\"\"
    log = get_logger()
    done = None
    for attempt in range(40):
        try:
            subprocess.run(["pkill", "-KILL", "-u", name], check=False, capture_output=True)
        except FileNotFoundError:  # no procps: userdel's retries wait for the processes to end by themselves
            pass
        done = subprocess.run(["userdel", "--remove", name], check=False, capture_output=True, text=True)
        if done.returncode in (0, 6):  # 6: no such user (already gone)
            log.info("Removed system user %s (attempt %d)", name, attempt + 1)
            return
        time.sleep(0.5)
    forced = subprocess.run(["userdel", "--remove", "--force", name], check=False, capture_output=True, text=True)
    # said in the hub's log either way: a system user left behind is an account nobody culls any more
    log.warning("System user %s: userdel exited %s (%s); with --force %s (%s)", name, done.returncode,
                done.stderr.strip(), forced.returncode, forced.stderr.strip())


Base = LocalProcessSpawner if SYSTEM_USERS else SimpleLocalProcessSpawner
if SYSTEM_USERS:
    os.makedirs(HOMES, exist_ok=True)
    os.chmod(HOMES, 0o711)  # users reach their own home, but cannot list who else has one


class ReadyLocalProcessSpawner(Base):
    \"\"\"start() returns once the server listens: the hub's first readiness check then succeeds, instead of
    waiting out its exponential backoff (0.2, 0.4, 0.8, 1.6 s ...) after a server that was already up.\"\"\"

    async def start(self):
        if SYSTEM_USERS:
            await asyncio.get_running_loop().run_in_executor(None, ensure_system_user, self.user.name)
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

PORTAL_URL = {portal_url!r}


class RemovesAnonymousSystemUsers:
    \"\"\"An anonymous hub user's system user and home go when the hub user goes (culled when idle).\"\"\"

    async def delete_user(self, user):
        done = super().delete_user(user)  # plain or async, depending on the version
        if inspect.isawaitable(done):
            await done
        if SYSTEM_USERS and user.name.startswith(ANON_PREFIX):
            await asyncio.get_running_loop().run_in_executor(None, remove_system_user, user.name)


if PORTAL_URL:
    # People sign in to the hub through the portal, the hub's OAuth2 provider (in production both use the
    # site's identity provider instead). The portal names the hub user in the `hub_user` claim.
    from oauthenticator.generic import GenericOAuthenticator

    class PortalOAuthenticator(RemovesAnonymousSystemUsers, GenericOAuthenticator):
        pass

    c.JupyterHub.authenticator_class = PortalOAuthenticator
    c.GenericOAuthenticator.client_id = os.environ["PORTAL_HUB_CLIENT_ID"]
    c.GenericOAuthenticator.client_secret = os.environ["PORTAL_HUB_CLIENT_SECRET"]
    c.GenericOAuthenticator.oauth_callback_url = "http://127.0.0.1:{port}/hub/oauth_callback"
    c.GenericOAuthenticator.authorize_url = PORTAL_URL + "/oauth/authorize"
    c.GenericOAuthenticator.token_url = PORTAL_URL + "/oauth/token"
    c.GenericOAuthenticator.userdata_url = PORTAL_URL + "/oauth/userinfo"
    c.GenericOAuthenticator.username_claim = "hub_user"
    c.GenericOAuthenticator.scope = ["openid", "profile"]
    c.GenericOAuthenticator.allow_all = True
    c.Authenticator.auto_login = True  # straight to the portal: the hub's own login page has nothing to offer
    c.JupyterHub.redirect_to_server = False
else:
    from jupyterhub.auth import DummyAuthenticator

    class PortalDummyAuthenticator(RemovesAnonymousSystemUsers, DummyAuthenticator):
        pass

    c.JupyterHub.authenticator_class = PortalDummyAuthenticator  # tests of the launcher alone: one password
    c.DummyAuthenticator.password = {password!r}

IDLE_TIMEOUT = {idle_timeout!r}
if IDLE_TIMEOUT:
    # mybinder.org-style: idle servers are stopped and their hub users removed (an anonymous one with its
    # system user, see delete_user above; a signed-in person's hub user comes back on their next launch).
    c.JupyterHub.services.append({{
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={{IDLE_TIMEOUT}}",
                    f"--cull-every={{max(1, min(IDLE_TIMEOUT // 2, 300))}}", "--cull-users=true",
                    "--remove-named-servers=true"],
    }})
    c.JupyterHub.load_roles.append({{
        "name": "idle-culler",
        "services": ["idle-culler"],
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers", "admin:users"],
    }})

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
        if not SYSTEM_USERS:
            spawner.home_dir_template = opts["workdir"]
    if opts.get("default_url"):
        spawner.default_url = opts["default_url"]
    spawner.environment.update({{str(k): str(v) for k, v in (opts.get("env") or {{}}).items()}})


c.Spawner.pre_spawn_hook = pre_spawn_hook

SPAWNER = {spawner!r}
DOCKER_URL = {docker_url!r}
MOUNT_ROOTS = {mount_roots!r}  # where the read-only files a session container may get live (public data)
IMAGE_PREFIX = "localhost/portal-env:"  # images the portal's builder made; nothing else is started
CONTAINER_UID = 1000  # jovyan in the portal's images
if SPAWNER == "docker":
    import socket

    from dockerspawner import DockerSpawner

    def under_roots(path, roots):
        real = os.path.realpath(path)
        return any(real == root or real.startswith(root.rstrip("/") + "/") for root in roots)

    class PortalDockerSpawner(DockerSpawner):
        \"\"\"One container per named server on podman's Docker API, in the hub's network namespace (root:// and
        the hub on loopback are reachable), as the image's unprivileged user; only the session's working
        directory (read-write) and the lesson's data files (read-only) are mounted.\"\"\"

        async def start(self):
            opts = self.user_options or {{}}
            image = str(opts.get("image") or "")
            if not image.startswith(IMAGE_PREFIX):
                raise ValueError(f"refusing image {{image!r}}: only the portal's builds ({{IMAGE_PREFIX}}*) start here")
            volumes = {{}}
            for mount in opts.get("mounts") or []:
                source, target = str(mount["source"]), str(mount["target"])
                # read-write: only this hub user's own sessions; read-only: the portal's public data files
                allowed = [os.path.join(HOMES, self.user.name)] if not mount.get("read_only") else MOUNT_ROOTS
                if not under_roots(source, allowed):
                    raise ValueError(f"refusing to mount {{source}}: outside {{allowed}}")
                volumes[os.path.realpath(source)] = {{"bind": target, "mode": "ro" if mount.get("read_only") else "rw"}}
                if not mount.get("read_only"):
                    # the container's user owns its working directory (never following the portal's links)
                    for root, dirs, files in os.walk(source):
                        for item in [root, *(os.path.join(root, n) for n in dirs + files)]:
                            os.chown(item, CONTAINER_UID, CONTAINER_UID, follow_symlinks=False)
            self.volumes = volumes
            with socket.socket() as sock:  # host network: each server needs a port of its own
                sock.bind(("127.0.0.1", 0))
                self.port = sock.getsockname()[1]
            ip, port = await super().start()
            # as ReadyLocalProcessSpawner: return once the server listens, sparing the hub's backoff
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.start_timeout
            while loop.time() < deadline:
                try:
                    _reader, writer = await asyncio.open_connection(ip, port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                break
            return ip, port

        async def get_ip_and_port(self):
            return "127.0.0.1", self.port

    c.JupyterHub.spawner_class = PortalDockerSpawner
    c.DockerSpawner.client_kwargs = {{"base_url": DOCKER_URL}}
    c.DockerSpawner.network_name = "host"
    c.DockerSpawner.use_internal_ip = True  # no port bindings: the container shares the hub's network
    c.DockerSpawner.ip = "127.0.0.1"
    c.DockerSpawner.pull_policy = "never"  # images are built here, never pulled
    c.DockerSpawner.remove = True
    c.DockerSpawner.name_template = "portal-{{username}}--{{servername}}"
    c.DockerSpawner.cmd = ["jupyterhub-singleuser"]
    c.DockerSpawner.allowed_images = "*"  # user_options["image"] is checked in start(): the portal's builds only
    CPUS, MEMORY = {cpu_limit!r}, {mem_limit!r}
    if CPUS:
        c.DockerSpawner.cpu_limit = float(CPUS)
    if MEMORY:
        c.DockerSpawner.mem_limit = MEMORY
"""


def closed_to_others(path: Path) -> Path | None:
    """The first directory above ``path`` that other users cannot pass through (no o+x), or None. Session users
    run the portal's interpreter and its built environments: all of it must be reachable by them."""
    for parent in reversed(Path(path).resolve().parents):
        if not parent.stat().st_mode & 0o001:
            return parent
    return None


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
    password: str = ""  # DummyAuthenticator's shared password (only when no portal_url)
    portal_url: str = ""  # the portal as the hub's OAuth2 provider; empty: DummyAuthenticator
    client_id: str = ""
    client_secret: str = ""  # passed to the hub in its environment, never written to its config file
    system_users: bool = False
    homes: Path | None = None  # the system users' homes (the launcher's sessions directory)
    idle_timeout: int = 0  # seconds; 0: no idle culler
    spawner: str = "local"  # `docker`: DockerSpawner on the Docker API at docker_url; `local`: host processes
    docker_url: str = ""
    mount_roots: tuple[str, ...] = ()  # where read-only files session containers may mount live (public data)
    cpu_limit: float = 0.0
    mem_limit: str = ""
    docker_api: Any = None  # portal.environments.engine.DockerAPI the hub's containers run on; stopped with it
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
        self.state_dir.chmod(0o700)  # its database, cookie secret and tokens are the hub's alone
        if self.system_users and self.homes is None:
            raise ValueError("system_users needs the directory of their homes (homes=)")
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
            allow_root=os.geteuid() == 0 and not self.system_users,
            portal_url=self.portal_url.rstrip("/"),
            system_users=self.system_users,
            homes=str(Path(self.homes).resolve()) if self.homes is not None else "",
            idle_timeout=self.idle_timeout,
            spawner=self.spawner,
            docker_url=self.docker_url,
            mount_roots=[os.path.realpath(r) for r in self.mount_roots],
            cpu_limit=self.cpu_limit,
            mem_limit=self.mem_limit,
        )
        path = self.state_dir / "jupyterhub_config.py"
        path.write_text(config)
        path.chmod(0o600)
        return path

    def start(self, timeout: float = 60.0) -> Hub:
        try:
            config = self.write_config()
            env = {
                **os.environ,
                "PORTAL_HUB_CLIENT_ID": self.client_id,
                "PORTAL_HUB_CLIENT_SECRET": self.client_secret,
            }
            with open(self.state_dir / "jupyterhub.log", "ab") as log:  # the child keeps its own descriptor
                self.process = subprocess.Popen(
                    [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(config)],
                    cwd=self.state_dir,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=env,
                )
            self._wait_until_up(timeout)
        except BaseException:
            self.stop()  # nothing outlives a hub that did not start: its process, its proxy, the Docker API
            raise
        return self

    def _wait_until_up(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"JupyterHub exited with {self.process.returncode}; see {self.state_dir / 'jupyterhub.log'}"
                )
            try:
                if requests.get(f"{self.api}/user", headers=self.headers, timeout=2).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):  # a busy hub still starting: ask again
                pass
            time.sleep(0.2)
        raise RuntimeError(f"JupyterHub did not answer within {timeout} s; see {self.state_dir / 'jupyterhub.log'}")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def stop(self) -> None:
        try:
            self._stop()
        finally:
            if self.docker_api is not None:
                self.docker_api.stop()

    def _stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # The hub stops its proxy and the users' servers on SIGTERM; the group kill catches stragglers.
        self.process.send_signal(signal.SIGTERM)
        try:
            # it stops its services first (the idle culler may take its spawner's full interrupt/terminate
            # timeouts, ~20 s), then the servers: cut it short and the servers outlive it
            self.process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
