"""A real XRootD server for the tests, over a fresh directory of generated files."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from portal.storage.server import XRootDServer, only_loopback, xrootd_binary


def skip_reason() -> str | None:
    if xrootd_binary() is None:
        return "xrootd server not installed (apt-get install xrootd-server xrootd-client)"
    if not only_loopback():
        return (
            "xrootd listens on every interface; its tests run only in a loopback-only network namespace "
            "(make test sets one up when run as root)"
        )
    return None


def require_xrootd() -> None:
    reason = skip_reason()
    if reason:
        if os.environ.get("PORTAL_TEST_REQUIRE_XROOTD"):
            pytest.fail(reason)
        pytest.skip(reason)


def readable_tree(root: Path) -> None:
    """Let the `xrootd` user (the server drops root) read everything under ``root``."""
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(Path(dirpath) / name, 0o644)


@contextmanager
def xrootd_over(data: Path) -> Iterator[XRootDServer]:
    """Serve ``data`` (exported as `/<data.name>`) until the block ends."""
    state = Path(tempfile.mkdtemp(prefix="xrd-state-"))
    readable_tree(data)
    server = XRootDServer(localroot=data.parent, export=data.name, state_dir=state).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(state, ignore_errors=True)


def served_tempdir() -> Path:
    """A temp dir the xrootd user can traverse (pytest's own tmp dirs are private to root)."""
    top = Path(tempfile.mkdtemp(prefix="portal-xrd-"))
    os.chmod(top, 0o755)
    data = top / "data"
    data.mkdir()
    return data
