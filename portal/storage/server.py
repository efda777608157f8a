"""Run the Debian `xrootd` server over a directory: config, start with a TCP readiness probe, stop.

xrootd has no bind-address option: it listens on every interface. Tests therefore run it (and
themselves) in a loopback-only network namespace (`make test` does this when it can); `portal stack`
exports the data read-only and says so.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from portal.errors import Unavailable
from portal.i18n import N_


def xrootd_binary() -> str | None:
    return shutil.which("xrootd") or ("/usr/bin/xrootd" if Path("/usr/bin/xrootd").exists() else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def only_loopback() -> bool:
    """True inside a network namespace whose only interface is `lo` (nothing else can reach us)."""
    try:
        return sorted(os.listdir("/sys/class/net")) == ["lo"]
    except OSError:
        return False


@dataclass
class XRootDServer:
    """An `xrootd` process exporting ``localroot/export`` as `root://127.0.0.1:port//export/...`."""

    localroot: Path
    export: str
    state_dir: Path
    port: int = 0
    read_only: bool = True
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"root://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.state_dir / "xrootd.log"

    def config(self) -> str:
        mode = " r/o" if self.read_only else ""
        # No `all.role`: a standalone server (with it, xrootd waits for a cmsd and logs about it every ~70 s).
        return "\n".join(
            [
                f"xrd.port {self.port}",
                f"all.export /{self.export}{mode}",
                f"oss.localroot {self.localroot}",
                f"all.adminpath {self.state_dir / 'admin'}",
                f"all.pidpath {self.state_dir / 'run'}",
                "",
            ]
        )

    def start(self, timeout: float = 15.0) -> XRootDServer:
        binary = xrootd_binary()
        if binary is None:
            raise Unavailable(N_("the xrootd server is not installed: apt-get install xrootd-server xrootd-client"))
        self.port = self.port or free_port()
        for sub in ("admin", "run"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        cfg = self.state_dir / "xrootd.cfg"
        cfg.write_text(self.config())
        cmd = [binary, "-c", str(cfg), "-l", str(self.log)]
        if os.geteuid() == 0:
            # xrootd refuses to run as root; it drops to the `xrootd` user, which must own its state
            # directories and be able to read the exported files.
            user = pwd.getpwnam("xrootd")
            for folder in (self.state_dir, self.state_dir / "admin", self.state_dir / "run"):
                os.chown(folder, user.pw_uid, user.pw_gid)
            cmd[1:1] = ["-R", "xrootd"]
        self.process = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Unavailable(
                    N_("xrootd exited with {process_returncode}; see {log}"),
                    process_returncode=self.process.returncode,
                    log=self.log,
                )
            try:  # a TCP probe: an XRootD client call would hang for its 120 s connection window
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.03)
        self.stop()
        raise Unavailable(
            N_("xrootd did not listen on port {port} within {timeout:.0f} s; see {log}"),
            port=self.port,
            timeout=timeout,
            log=self.log,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
