"""A PostgreSQL server of the portal's own, for `portal stack --distributed`: Debian's initdb + pg_ctl over a
directory, listening on 127.0.0.1 only (trust authentication: nothing but this machine's processes reach it)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

from portal.errors import Unavailable
from portal.i18n import N_
from portal.storage.server import free_port


def pg_bindir() -> Path | None:
    """Where initdb and pg_ctl are (Debian keeps them out of PATH, under /usr/lib/postgresql/<version>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    """A cluster in ``root`` (made on first start, kept across runs) serving the database ``portal``."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        bindir = pg_bindir()
        if bindir is None:
            raise Unavailable(N_("PostgreSQL is not installed: `sudo apt-get install postgresql` (or `make install`)"))
        self.root, self.bindir, self.data = root, bindir, root / "data"
        self.port = port or free_port()
        # PostgreSQL refuses to run as root: as root, its files belong to the `postgres` system user
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/portal"

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*self._as, str(self.bindir / tool), *args], check=check, capture_output=True)

    def start(self) -> PostgresServer:
        fresh = not (self.data / "PG_VERSION").exists()
        if fresh:
            self.root.mkdir(parents=True, exist_ok=True)
            if self._as:
                shutil.chown(self.root, "postgres", "postgres")
            self._pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root}"
        started = self._pg(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-o",
            options,
            "start",
            check=False,
        )
        if started.returncode != 0:
            raise Unavailable(
                N_("PostgreSQL did not start: {stderr}"),
                stderr=started.stderr.decode(errors="replace")[-300:],
            )
        if fresh:
            import psycopg

            dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("CREATE DATABASE portal")
        return self

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "stop", check=False)
