"""Launches a built environment as the user's named JupyterHub server, with the record's files as a fileset."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

from portal.environments.builders import BuildEvent, BuiltEnvironment

NAME_RE = re.compile(r"[^a-z0-9-]+")


class LaunchFailed(RuntimeError):
    """The server did not start; the message says what failed and what to try."""


def server_name(key: str, recid: int | None) -> str:
    return NAME_RE.sub("-", f"r{recid}-{key[:8]}" if recid else f"env-{key[:8]}")


def write_fileset(workdir: Path, recid: int | None, files: list[dict[str, object]]) -> Path:
    """The record's files by reference (root:// URLs and checksums): the data itself is never copied."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "fileset.json"
    path.write_text(json.dumps({"recid": recid, "files": files}, indent=2))
    return path


class LaunchService:
    def __init__(self, hub_url: str, token: str, work_root: Path) -> None:
        self.hub_url = hub_url.rstrip("/")
        self.headers = {"Authorization": f"token {token}"}
        self.work_root = Path(work_root)

    def _api(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return requests.request(method, f"{self.hub_url}/hub/api{path}", headers=self.headers, timeout=30, **kwargs)  # type: ignore[arg-type]

    def launch(
        self,
        built: BuiltEnvironment,
        *,
        user: str,
        recid: int | None = None,
        files: list[dict[str, object]] | None = None,
        notebook: str = "",
        prepare: Callable[[Path], dict[str, str]] | None = None,
        timeout: float = 90.0,
    ) -> Iterator[BuildEvent]:
        """Starts (or reuses) the user's named server for ``built``; ``prepare`` may seed the server's working
        directory (a lesson's notebook, links to its data) and returns extra environment variables."""
        if built.python is None:
            raise LaunchFailed(
                f"build {built.key} ({built.builder}) has no runnable environment here: "
                "no image was built; use the venv builder on this machine"
            )
        name = server_name(built.key, recid)
        workdir = self.work_root / user / name
        fileset = write_fileset(workdir, recid, files or [])
        extra_env = prepare(workdir) if prepare is not None else {}
        yield BuildEvent("launching", f"starting server {user}/{name}", {"server": name})
        resp = self._api("GET", f"/users/{user}")
        if resp.status_code == 404:
            self._api("POST", f"/users/{user}").raise_for_status()
        else:
            resp.raise_for_status()
            existing = resp.json().get("servers", {}).get(name)
            if existing and existing.get("ready"):
                yield self._ready(user, name, notebook)
                return
        options = {
            "python": str(built.python),
            "workdir": str(workdir),
            "default_url": f"/lab/tree/{notebook}" if notebook else "/lab",
            "env": {
                "PORTAL_RECORD": recid or "",
                "PORTAL_FILESET": str(fileset),
                "PORTAL_ENVIRONMENT_KEY": built.key,
                **extra_env,
            },
        }
        resp = self._api("POST", f"/users/{user}/servers/{name}", json=options)
        if resp.status_code not in (201, 202):
            raise LaunchFailed(f"JupyterHub refused to start {user}/{name}: {resp.status_code} {resp.text[:300]}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self._api("GET", f"/users/{user}").json().get("servers", {}).get(name) or {}
            if server.get("ready"):
                yield self._ready(user, name, notebook)
                return
            if not server.get("pending") and resp.status_code == 202 and not server:
                break
            time.sleep(0.2)
        raise LaunchFailed(
            f"server {user}/{name} was not ready within {timeout} s; check the hub log, "
            "or rebuild the environment (its jupyterhub-singleuser may not start)"
        )

    def _ready(self, user: str, name: str, notebook: str) -> BuildEvent:
        base = f"{self.hub_url}/user/{user}/{name}/"
        url = base + (f"lab/tree/{notebook}" if notebook else "lab")
        return BuildEvent("ready", f"server ready at {url}", {"url": url, "server_url": base})

    def stop(self, user: str, name: str) -> None:
        self._api("DELETE", f"/users/{user}/servers/{name}")
