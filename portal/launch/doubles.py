"""Launcher doubles for unit tests and failure modes: one that records the servers it is asked for, one that is
slow to start them, one whose hub is down."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portal.environments.builders import BuildEvent, BuiltEnvironment
from portal.i18n import N_
from portal.launch.base import (
    FileRef,
    Prepare,
    hub_unreachable,
    require_runnable,
    server_name,
    write_fileset,
)
from portal.launch.jupyterhub import sessions_dir

if TYPE_CHECKING:
    from portal.settings import Settings

FAKE_HUB = "http://recording-hub.invalid"  # a reserved name (RFC 2606): nothing answers there


@dataclass(frozen=True)
class Session:
    """What a server was started with: the interpreter, working directory, page to open and its variables."""

    python: Path
    workdir: Path
    default_url: str
    env: dict[str, str]


class RecordingLauncher:
    """Prepares each session's directory as the hub launcher does, then records the server instead of starting
    it (``servers``: (user, server) -> :class:`Session`); its URLs point to a host that does not exist."""

    name = "recording"
    development_only = True

    def __init__(self, work_root: Path) -> None:
        self.work_root = Path(work_root)
        self.servers: dict[tuple[str, str], Session] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> RecordingLauncher:
        return cls(sessions_dir(settings))

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
        python = require_runnable(built)
        name = server_name(built.key, recid)
        workdir = self.work_root / user / name
        fileset = write_fileset(workdir, recid, files or [])
        extra_env = prepare(workdir) if prepare is not None else {}
        yield BuildEvent.said("launching", N_("starting server {server}"), {"server": name}, server=f"{user}/{name}")
        with self._lock:
            running = (user, name) in self.servers
        if not running:
            yield from self._starting(user, name)
            session = Session(
                python=python,
                workdir=workdir,
                default_url=f"/lab/tree/{notebook}" if notebook else "/lab",
                env={
                    "PORTAL_RECORD": str(recid or ""),
                    "PORTAL_FILESET": str(fileset),
                    "PORTAL_ENVIRONMENT_KEY": built.key,
                    **extra_env,
                },
            )
            with self._lock:
                self.servers[(user, name)] = session
        base = f"{FAKE_HUB}/user/{user}/{name}/"
        url = base + (f"lab/tree/{notebook}" if notebook else "lab")
        yield BuildEvent.said("ready", N_("server ready at {url}"), {"url": url, "server_url": base}, url=url)

    def _starting(self, user: str, name: str) -> Iterator[BuildEvent]:
        return iter(())

    def probe(self) -> None:
        """Always reachable."""

    def stop(self, user: str, server: str) -> None:
        with self._lock:
            self.servers.pop((user, server), None)


class SlowLauncher(RecordingLauncher):
    """A hub that takes ``delay`` seconds to start each server, reporting progress every ``step`` seconds, as a
    hub pulling a large image does; setting ``release`` lets the waiting servers start at once."""

    name = "slow"

    def __init__(self, work_root: Path, *, delay: float = 30.0, step: float = 5.0) -> None:
        super().__init__(work_root)
        self.delay = delay
        self.step = step
        self.release = threading.Event()

    def _starting(self, user: str, name: str) -> Iterator[BuildEvent]:
        steps = max(1, round(self.delay / self.step))
        for done in range(1, steps + 1):
            if self.release.wait(self.step):
                return
            if done < steps:  # progress counts the steps, so a loaded machine changes the pace, not the events
                yield BuildEvent("launching", f"server {user}/{name} is starting ({done} of {steps})")


class DownLauncher:
    """A hub that goes down as a launch reaches it: the probe before the launch passes (it was up then), every
    launch and stop fails with the hub launcher's "JupyterHub is unreachable" error (Unavailable). Pages keep
    running a launch's whole event stream to its failure with it."""

    name = "down"
    development_only = True

    def __init__(self, hub_url: str = "http://127.0.0.1:9") -> None:
        self.hub_url = hub_url

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> DownLauncher:
        return cls(settings.launch_hub_url or "http://127.0.0.1:9")

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
        yield BuildEvent("launching", f"starting server {user}/{server_name(built.key, recid)}")
        raise hub_unreachable(self.hub_url, "ConnectionError: the hub is down")

    def probe(self) -> None:
        """Passes: the hub goes down later, during the launch."""

    def stop(self, user: str, server: str) -> None:
        raise hub_unreachable(self.hub_url, "ConnectionError: the hub is down")
