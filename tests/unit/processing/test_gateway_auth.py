"""The embedded gateway's configuration and authenticator, and what sessions are told about the gateway. The hub
path of the authenticator (hub tokens checked against a real JupyterHub) is in
tests/functional/test_gateway_hub.py."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import warnings
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("dask_gateway_server")

from aiohttp import web  # noqa: E402
from dask_gateway import GatewayWarning  # noqa: E402
from dask_gateway_server.app import DaskGateway  # noqa: E402
from dask_gateway_server.backends.base import ClusterConfig  # noqa: E402
from dask_gateway_server.backends.local import LocalClusterConfig  # noqa: E402
from dask_gateway_server.proxy.core import Proxy  # noqa: E402
from traitlets.config import Config  # noqa: E402

from portal.launch.jupyterhub import JupyterHubLauncher, gateway_environment  # noqa: E402
from portal.processing.executors.gateway import _scale  # noqa: E402
from portal.processing.gateway import server_config  # noqa: E402
from portal.processing.gateway_auth import PortalOrHubAuthenticator  # noqa: E402
from portal.settings import load_settings  # noqa: E402


def run(coroutine: Any) -> Any:
    # in a thread of its own: the browser tests' Playwright keeps an event loop running in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def request(authorization: str | None) -> Any:
    return SimpleNamespace(headers={} if authorization is None else {"Authorization": authorization})


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def loaded(text: str) -> Config:
    c = Config()
    exec(text, {"c": c})  # noqa: S102 - the config the portal writes for dask-gateway-server
    return c


def test_the_gateway_config_is_read_by_the_gateway_application(tmp_path):
    """Options under a name that is not the application's class (`c.Gateway`) are silently ignored."""
    settings = load_settings(
        {"var_dir": str(tmp_path), "gateway_password": "s3cret", "launch_hub_url": "http://127.0.0.1:8123/"},
        environ={},
    )
    c = loaded(server_config(settings, api_port=8001, proxy_port=8002))
    # every section names a class the gateway configures (an unknown one, like the gone `UserLimits`, is ignored)
    configured = (DaskGateway, Proxy, PortalOrHubAuthenticator, LocalClusterConfig, ClusterConfig)
    assert set(c) == {cls.__name__ for cls in configured}
    app = DaskGateway(config=c)
    assert app.authenticator_class is PortalOrHubAuthenticator
    assert app.address == "127.0.0.1:8001"
    auth = PortalOrHubAuthenticator(config=c)
    assert auth.password == "s3cret"
    assert auth.jupyterhub_api_url == "http://127.0.0.1:8123/hub/api"
    assert auth.use_service_access_scopes is False  # any hub user may have a cluster
    # without a hub only the portal gets in
    alone = loaded(server_config(settings.with_overrides(launch_hub_url=""), api_port=8001, proxy_port=8002))
    assert PortalOrHubAuthenticator(config=alone).jupyterhub_api_url == ""


def test_the_portal_gets_in_with_the_shared_secret_as_the_user_it_names():
    auth = PortalOrHubAuthenticator(password="s3cret", jupyterhub_api_url="")
    assert run(auth.authenticate(request(basic("p-12", "s3cret")))).name == "p-12"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        basic("p-12", "wrong"),
        basic("p-12", ""),
        basic("", "s3cret"),
        basic("service:portal", "s3cret"),
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic not*base64",
        "Basic " + base64.b64encode(b"\xff\xfe:s3cret").decode(),
        "jupyterhub some-token",  # no hub configured: tokens cannot be checked
        "Bearer s3cret",
    ],
)
def test_everything_else_is_refused_with_401(authorization):
    auth = PortalOrHubAuthenticator(password="s3cret", jupyterhub_api_url="")
    with pytest.raises(web.HTTPUnauthorized):
        run(auth.authenticate(request(authorization)))


def test_without_a_password_not_even_the_portal_gets_in(monkeypatch):
    monkeypatch.delenv("PORTAL_GATEWAY_PASSWORD", raising=False)
    with pytest.raises(web.HTTPUnauthorized):
        run(PortalOrHubAuthenticator().authenticate(request(basic("p-12", ""))))


def test_sessions_are_told_the_gateway_and_hub_auth_but_never_the_password(tmp_path):
    base = {"var_dir": str(tmp_path), "gateway_password": "s3cret"}
    assert gateway_environment(load_settings(base, environ={})) == {}  # no gateway: nothing
    settings = load_settings({**base, "gateway_url": "http://127.0.0.1:9000"}, environ={})
    env = gateway_environment(settings)
    assert env == {"DASK_GATEWAY__ADDRESS": "http://127.0.0.1:9000", "DASK_GATEWAY__AUTH__TYPE": "jupyterhub"}
    proxied = gateway_environment(settings.with_overrides(gateway_proxy_address="gateway://127.0.0.1:9001"))
    assert proxied["DASK_GATEWAY__PROXY_ADDRESS"] == "gateway://127.0.0.1:9001"
    assert JupyterHubLauncher.from_settings(settings).session_env == env
    assert "s3cret" not in repr(env)


class ScalingCluster:
    """What a gateway cluster's scale() does above the gateway's limit: scales to the limit and warns."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.asked: list[int] = []

    def scale(self, n: int) -> None:
        self.asked.append(n)
        if n > self.limit:
            warnings.warn(
                GatewayWarning(
                    f"Scale request of {n} workers would exceed resource limit of {self.limit} workers. "
                    f"Scaling to {self.limit} instead."
                ),
                stacklevel=1,
            )


def test_the_executor_waits_only_for_the_workers_the_gateway_grants(caplog):
    cluster = ScalingCluster(limit=2)
    assert _scale(cluster, 5) == 2
    assert "PORTAL_GATEWAY_MAX_WORKERS=5" in caplog.text
    assert _scale(cluster, 2) == 2 and _scale(cluster, 1) == 1
    assert cluster.asked == [5, 2, 1]
