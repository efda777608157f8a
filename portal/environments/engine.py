"""podman as the portal runs it: private storage (so the portal's images and the machine's stay apart), runc,
and no default ulimits. podman 4.3 on this kind of kernel fails with crun (hybrid cgroups) and runc cannot raise
the default rlimits as root in a container, hence ``default_ulimits = []`` in a private CONTAINERS_CONF rather
than in the machine's /etc/containers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from portal.errors import Unavailable
from portal.i18n import N_

DEFAULT_IMAGES_DIR = Path(sys.prefix) / "share" / "portal" / "images"
CONTAINERS_CONF = "[containers]\ndefault_ulimits = []\n"


def missing_tools() -> list[str]:
    """What the podman builder needs and this machine lacks (empty: it can build here)."""
    missing = [tool for tool in ("podman", "runc", "mmdebstrap") if shutil.which(tool) is None]
    if os.geteuid() != 0:
        missing.append("root (rootful podman and mmdebstrap)")
    return missing


@dataclass(frozen=True)
class Podman:
    """One podman store under ``root_dir``: ``storage/`` (images), ``run/`` (runtime state), ``containers.conf``."""

    root_dir: Path

    @property
    def conf(self) -> Path:
        return self.root_dir / "containers.conf"

    @property
    def argv(self) -> list[str]:
        # podman records its store's paths at first use and refuses the store under any other spelling ("database
        # configuration mismatch"): a venv reached through a symlink (a worktree's .venv, or a script whose
        # shebang names the real venv) must name the store one way only
        root = self.root_dir.resolve()
        return [
            "podman",
            "--root",
            str(root / "storage"),
            "--runroot",
            str(root / "run"),
            "--runtime",
            shutil.which("runc") or "runc",
            "--cgroup-manager",
            "cgroupfs",
        ]

    @property
    def env(self) -> dict[str, str]:
        self.root_dir.mkdir(parents=True, exist_ok=True)
        if not self.conf.is_file():
            self.conf.write_text(CONTAINERS_CONF)
        return {**os.environ, "CONTAINERS_CONF": str(self.conf)}

    def check(self) -> None:
        """:class:`Unavailable` naming what is missing when podman cannot run here."""
        missing = missing_tools()
        if missing:
            raise Unavailable(
                N_(
                    "the podman builder needs {missing} (apt-get install -y podman runc mmdebstrap, "
                    "as root); or set PORTAL_LAUNCH_BUILDER=venv (not isolated)"
                ),
                missing=", ".join(missing),
            )

    def run(self, *args: str, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*self.argv, *args], capture_output=True, text=True, env=self.env, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, proc.args, proc.stdout, proc.stderr)
        return proc

    def stream(self, *args: str) -> Iterator[str]:
        """Runs podman and yields its output line by line; the last item is ``"exit <code>"``."""
        with subprocess.Popen(
            [*self.argv, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            bufsize=1,
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                yield line.rstrip("\n")
            yield f"exit {proc.wait()}"

    def image(self, ref: str) -> dict[str, object] | None:
        """``podman image inspect`` of ``ref``, or None when the store has no such image; :class:`Unavailable` with
        podman's reason when podman cannot read the store at all (read as "no image", that error made builds
        rebuild the base image only to fail, and `portal env prune` drop the records of images still there)."""
        proc = self.run("image", "inspect", ref, check=False)
        if proc.returncode != 0:
            if "image not known" in proc.stderr or "no such image" in proc.stderr.lower():
                return None
            raise Unavailable(
                N_("podman cannot read its image store {store}: {reason}"),
                store=self.root_dir,
                reason=proc.stderr.strip()[-500:] or f"exit {proc.returncode}",
            )
        found = json.loads(proc.stdout or "[]")
        return dict(found[0]) if found else None

    def images(self, repository: str) -> list[dict[str, object]]:
        """The images of ``repository`` (e.g. ``localhost/portal-env``) with their tags, ids and sizes."""
        proc = self.run("images", "--format", "json", "--filter", f"reference={repository}", check=False)
        return [dict(i) for i in json.loads(proc.stdout or "[]")] if proc.returncode == 0 else []


@dataclass
class DockerAPI:
    """podman's Docker-compatible API on a unix socket (``podman system service``): what JupyterHub's
    DockerSpawner and repo2docker talk to. It serves the same store as :class:`Podman`."""

    podman: Podman
    socket: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 30.0) -> DockerAPI:
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        log = self.socket.with_suffix(".log")
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [*self.podman.argv, "system", "service", "--time=0", self.url],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.podman.env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Unavailable(
                    N_("podman system service exited with {process_returncode}; see {log}"),
                    process_returncode=self.process.returncode,
                    log=log,
                )
            if self.socket.exists():
                return self
            time.sleep(0.1)
        self.stop()
        raise Unavailable(
            N_("podman system service did not open {socket} within {timeout} s; see {log}"),
            socket=self.socket,
            timeout=timeout,
            log=log,
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
