"""A real Dask Gateway (`dask-gateway-server`, local process backend) on 127.0.0.1 for the tests."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from portal.processing.gateway import GatewayServer
from portal.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def gateway_server(**overrides: object) -> Iterator[tuple[GatewayServer, Settings]]:
    """A started gateway and the settings of a portal that uses it (``gateway_url``, the shared secret)."""
    with tempfile.TemporaryDirectory(prefix="portal-gateway-") as tmp:
        settings = load_settings({"var_dir": tmp, "gateway_max_workers": 2, **overrides}, environ={})
        # the workers unpickle the tests' task functions: they import them from the checkout
        server = GatewayServer(settings, Path(tmp) / "gateway", environment={"PYTHONPATH": str(ROOT)}).start()
        try:
            yield server, settings.with_overrides(gateway_url=server.url)
        finally:
            server.stop()
