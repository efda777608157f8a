"""The session launcher seam: its contract (:class:`Launcher`) and what every launcher shares (server names,
filesets, the error a launch ends with when the hub cannot be reached)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from portal.environments.builders import BuildEvent, BuiltEnvironment
from portal.errors import PortalError, Unavailable
from portal.i18n import N_

NAME_RE = re.compile(r"[^a-z0-9-]+")

# Seeds a session's working directory (a lesson's notebook, links to its data); returns environment variables.
Prepare = Callable[[Path], dict[str, str]]


class LaunchFailed(PortalError):
    """The server did not start; the message says what failed and what to try. Raised in workers, with no reader: a
    message id and values (the hub's own answer a value, never translated), shown in the reader's language by the
    launch's stream (:meth:`BuildEvent.failure`)."""

    title = N_("Launch failed")


@dataclass(frozen=True)
class FileRef:
    """A file of a session's fileset, by reference: where to stream it from and how to check it."""

    key: str | None
    uri: str  # root:// when XRootD serves it, else the catalogue's URI
    checksum: str | None
    size: int | None


def server_name(key: str, recid: int | None) -> str:
    """The named server of a build for a record (``r<recid>-<key>``) or for no record (``env-<key>``)."""
    return NAME_RE.sub("-", f"r{recid}-{key[:8]}" if recid else f"env-{key[:8]}")


def write_fileset(workdir: Path, recid: int | None, files: list[FileRef]) -> Path:
    """The record's files by reference (root:// URLs and checksums): the data itself is never copied."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "fileset.json"
    path.write_text(json.dumps({"recid": recid, "files": [asdict(f) for f in files]}, indent=2))
    return path


def require_runnable(built: BuiltEnvironment) -> Path:
    """The interpreter of ``built``; :class:`LaunchFailed` when the build made nothing runnable here."""
    if built.python is None:
        raise LaunchFailed(
            N_(
                "build {key} ({builder}) has no runnable environment here: "
                "no image was built; use the venv builder on this machine"
            ),
            key=built.key,
            builder=built.builder,
        )
    return built.python


def hub_unreachable(hub_url: str, reason: object) -> Unavailable:
    """The error of a launch or stop that could not reach the hub, saying so and where."""
    return Unavailable(
        N_(
            "JupyterHub is unreachable at {hub_url} ({reason}); check that it is "
            "running and that PORTAL_LAUNCH_HUB_URL points to it, then launch again"
        ),
        hub_url=hub_url,
        reason=reason,
    )


def no_hub() -> Unavailable:
    """The error of a launch on a portal that has no hub configured."""
    return Unavailable(
        N_(
            "JupyterHub is not running: start the portal with `make run` "
            "(launch_enabled) or set PORTAL_LAUNCH_HUB_URL and "
            "PORTAL_LAUNCH_HUB_TOKEN"
        )
    )


class Launcher(Protocol):
    """Starts built environments as users' notebook servers. Registered by name in the ``portal.launchers``
    entry-point group and chosen by ``PORTAL_LAUNCH_LAUNCHER``; built with ``from_settings(settings)``."""

    name: str

    def probe(self) -> None:
        """Raise :class:`portal.errors.Unavailable` (:func:`hub_unreachable`) when the hub cannot be reached now.
        Called before a launch builds anything, so that a launch while the hub is down is refused at once (503)
        rather than failing after its build; bounded to a few seconds. A launcher with no hub configured passes:
        its launch says how to get one (:func:`no_hub`)."""
        ...

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
        """Starts (or reuses) ``user``'s server for ``built`` and streams BinderHub-phase events.

        The events are ``launching`` ones (the first names the server in its ``server`` data; a slow start may
        add progress), then exactly one ``ready`` event, last, whose ``url`` opens ``notebook`` (a path relative
        to the working directory; empty: JupyterLab) and whose ``server_url`` is the server's base URL. The
        server is named by :func:`server_name`; launching the same build for the same user and record again
        reuses the running server.

        The server's working directory holds ``fileset.json`` (:func:`write_fileset`), also named by the
        ``PORTAL_FILESET`` variable, with ``PORTAL_RECORD`` and ``PORTAL_ENVIRONMENT_KEY`` beside it;
        ``prepare(workdir)`` runs before the server starts and its variables reach the server too.

        Raises (possibly after some events) :class:`LaunchFailed` when the server cannot start or ``built`` has
        nothing runnable (:func:`require_runnable`), and :class:`portal.errors.Unavailable` when no hub is
        configured (:func:`no_hub`) or it cannot be reached (:func:`hub_unreachable`: "JupyterHub is
        unreachable at ...").
        """
        ...

    def stop(self, user: str, server: str) -> None:
        """Stops ``user``'s named ``server`` and returns once it is gone; a server that is not running is no
        error. Raises :class:`portal.errors.Unavailable` when the hub cannot be reached."""
        ...
