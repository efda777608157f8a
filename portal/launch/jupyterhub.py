"""The JupyterHub launcher: a built environment becomes the user's named server, the record's files its fileset.

The portal talks to the hub's REST API as a Hub service with a scoped token (see :mod:`portal.launch.hub` for
the embedded hub, the helm chart for production).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from portal.environments.builders import BuildEvent, BuiltEnvironment
from portal.i18n import N_
from portal.launch.base import (
    FileRef,
    LaunchFailed,
    Prepare,
    hub_unreachable,
    no_hub,
    require_runnable,
    server_name,
    write_fileset,
)

if TYPE_CHECKING:
    from portal.settings import Settings


CONTAINER_WORKDIR = "/home/jovyan/work"
PROBE_TIMEOUT = 3.0  # seconds; a launch request waits this long at most to learn that the hub is away
CONTAINER_DATA = "/srv/data"


def container_options(
    image: str, workdir: Path, env: dict[str, object], options: dict[str, object]
) -> dict[str, object]:
    """The hub options of a session in a container: ``image``, the working directory mounted read-write at
    :data:`CONTAINER_WORKDIR`, each data file the session links to mounted read-only under :data:`CONTAINER_DATA`
    (the links themselves point at the portal's data directory, which is never mounted), and the environment's
    paths rewritten to where the container sees them."""
    mounts: list[dict[str, object]] = [{"source": str(workdir), "target": CONTAINER_WORKDIR, "read_only": False}]
    data = workdir / "data"
    for link in sorted(data.iterdir()) if data.is_dir() else []:
        if link.is_symlink() and link.resolve().is_file():
            mounts.append({"source": str(link.resolve()), "target": f"{CONTAINER_DATA}/{link.name}", "read_only": True})

    def inside(value: object) -> str:
        text = str(value)
        for host, there in ((str(data), CONTAINER_DATA), (str(workdir), CONTAINER_WORKDIR)):
            if text == host or text.startswith(host + "/"):
                return there + text[len(host) :]
        return text

    return {
        **options,
        "python": "",
        "image": image,
        "workdir": CONTAINER_WORKDIR,
        "mounts": mounts,
        "env": {key: inside(value) for key, value in env.items()},
    }


def gateway_environment(settings: Settings) -> dict[str, str]:
    """What a notebook session needs to open its owner's Dask Gateway cluster with ``dask_gateway.Gateway()``
    (the DaskHub pattern): the gateway's address and hub-token authentication, the token being the session's own
    ``JUPYTERHUB_API_TOKEN``. Empty without a gateway. Never the portal's shared password: with it a session
    could sign in as anyone."""
    if not settings.gateway_url:
        return {}
    env = {"DASK_GATEWAY__ADDRESS": settings.gateway_url, "DASK_GATEWAY__AUTH__TYPE": "jupyterhub"}
    if settings.gateway_proxy_address:
        env["DASK_GATEWAY__PROXY_ADDRESS"] = settings.gateway_proxy_address
    return env


def sessions_dir(settings: Settings) -> Path:
    """Where launchers keep the sessions' working directories: ``<var_dir>/environments/sessions``."""
    return Path(settings.var_dir) / "environments" / "sessions"


class JupyterHubLauncher:
    """Starts named servers on the JupyterHub at ``hub_url`` with the Hub service token ``token``; their working
    directories live under ``work_root`` (the hub's spawner must see that directory)."""

    name = "jupyterhub"

    def __init__(
        self,
        hub_url: str,
        token: str,
        work_root: Path,
        *,
        start_timeout: float = 90.0,
        session_env: dict[str, str] | None = None,
    ) -> None:
        """``session_env``: variables every session gets (the Dask Gateway's address: no secrets)."""
        self.hub_url = hub_url.rstrip("/")
        self.headers = {"Authorization": f"token {token}"}
        self.work_root = Path(work_root)
        self.start_timeout = start_timeout
        self.session_env = dict(session_env or {})

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> JupyterHubLauncher:
        """The hub at ``launch_hub_url``; empty until `portal stack` starts one (launches then fail clearly).
        Sessions get what opens their owner's gateway cluster with their hub token (DaskHub)."""
        return cls(
            settings.launch_hub_url,
            settings.launch_hub_token,
            sessions_dir(settings),
            session_env=gateway_environment(settings),
        )

    def _api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return requests.request(method, f"{self.hub_url}/hub/api{path}", headers=self.headers, timeout=30, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise hub_unreachable(self.hub_url, type(exc).__name__) from exc

    def probe(self) -> None:
        """See :meth:`portal.launch.base.Launcher.probe`: the hub's API root answers (it needs no token)."""
        if not self.hub_url:
            return
        try:
            resp = requests.get(f"{self.hub_url}/hub/api/", timeout=PROBE_TIMEOUT)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise hub_unreachable(self.hub_url, type(exc).__name__) from exc
        if resp.status_code >= 500:  # its proxy answers 502/503 while the hub behind it is away
            raise hub_unreachable(self.hub_url, f"HTTP {resp.status_code}")

    def _servers(self, user: str) -> dict[str, Any]:
        resp = self._api("GET", f"/users/{user}")
        if resp.status_code == 404:
            return {}
        resp.raise_for_status()
        return dict(resp.json().get("servers") or {})

    def launch(
        self,
        built: BuiltEnvironment,
        *,
        user: str,
        recid: int | None = None,
        files: list[FileRef] | None = None,
        notebook: str = "",
        prepare: Prepare | None = None,
    ) -> Iterator[BuildEvent]:
        """See :meth:`portal.launch.base.Launcher.launch`."""
        if not self.hub_url:
            raise no_hub()
        if not built.image:
            require_runnable(built)
        name = server_name(built.key, recid)
        workdir = self.work_root / user / name
        fileset = write_fileset(workdir, recid, files or [])
        extra_env = prepare(workdir) if prepare is not None else {}
        yield BuildEvent.said("launching", N_("starting server {server}"), {"server": name}, server=f"{user}/{name}")
        resp = self._api("GET", f"/users/{user}")
        if resp.status_code == 404:
            self._api("POST", f"/users/{user}").raise_for_status()
        else:
            resp.raise_for_status()
            existing = resp.json().get("servers", {}).get(name)
            if existing and existing.get("ready") and not existing.get("pending"):
                yield self._ready(user, name, notebook)
                return
            if existing and existing.get("pending") == "stop":
                # the same named server, asked to stop just before (a relaunch): the hub refuses a start until then
                yield self._waiting(user, name)
                self._wait_stopped(user, name)
        env: dict[str, object] = {
            **self.session_env,
            "PORTAL_RECORD": recid or "",
            "PORTAL_FILESET": str(fileset),
            "PORTAL_ENVIRONMENT_KEY": built.key,
            **extra_env,
        }
        options: dict[str, object] = {
            "python": str(built.python),
            "workdir": str(workdir),
            "default_url": f"/lab/tree/{notebook}" if notebook else "/lab",
            "env": env,
        }
        if built.image:
            options = container_options(built.image, workdir, env, options)
        resp = self._api("POST", f"/users/{user}/servers/{name}", json=options)
        if resp.status_code == 400 and "pending stop" in resp.text:
            # its stop began between the look above and this start: wait for it (bounded), then start once more
            yield self._waiting(user, name)
            self._wait_stopped(user, name)
            resp = self._api("POST", f"/users/{user}/servers/{name}", json=options)
        if resp.status_code not in (201, 202):
            raise LaunchFailed(
                N_("JupyterHub refused to start {server}: {status} {answer}"),
                server=f"{user}/{name}",
                status=resp.status_code,
                answer=resp.text[:300],
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            server = self._servers(user).get(name) or {}
            if server.get("ready"):
                yield self._ready(user, name, notebook)
                return
            if not server.get("pending") and resp.status_code == 202 and not server:
                break
            time.sleep(0.2)
        raise LaunchFailed(
            N_(
                "server {server} was not ready within {seconds} s; check the hub log, "
                "or rebuild the environment (its jupyterhub-singleuser may not start)"
            ),
            server=f"{user}/{name}",
            seconds=self.start_timeout,
        )

    @staticmethod
    def _waiting(user: str, name: str) -> BuildEvent:
        waiting = N_("waiting for server {server} to stop")
        return BuildEvent.said("launching", waiting, {"server": name, "waiting": "stop"}, server=f"{user}/{name}")

    def _wait_stopped(self, user: str, name: str) -> None:
        """Wait until server ``name`` is no longer stopping, at most ``start_timeout`` seconds (LaunchFailed then)."""
        deadline = time.monotonic() + self.start_timeout
        while (self._servers(user).get(name) or {}).get("pending") == "stop":
            if time.monotonic() > deadline:
                raise LaunchFailed(
                    N_("server {server} was still stopping after {seconds} s; try again later"),
                    server=f"{user}/{name}",
                    seconds=self.start_timeout,
                )
            time.sleep(0.2)

    def _ready(self, user: str, name: str, notebook: str) -> BuildEvent:
        base = f"{self.hub_url}/user/{user}/{name}/"
        url = base + (f"lab/tree/{notebook}" if notebook else "lab")
        return BuildEvent.said("ready", N_("server ready at {url}"), {"url": url, "server_url": base}, url=url)

    def stop(self, user: str, server: str, *, timeout: float = 30.0) -> None:
        """See :meth:`portal.launch.base.Launcher.stop`; :class:`LaunchFailed` if it is still there after
        ``timeout`` seconds."""
        if not self.hub_url:
            raise no_hub()
        resp = self._api("DELETE", f"/users/{user}/servers/{server}")
        if resp.status_code not in (202, 204, 404):
            raise LaunchFailed(
                N_("JupyterHub refused to stop {server}: {status} {answer}"),
                server=f"{user}/{server}",
                status=resp.status_code,
                answer=resp.text[:300],
            )
        deadline = time.monotonic() + timeout
        while server in self._servers(user):
            if time.monotonic() > deadline:
                raise LaunchFailed(
                    N_("server {server} was still running {seconds} s after it was stopped"),
                    server=f"{user}/{server}",
                    seconds=timeout,
                )
            time.sleep(0.1)
