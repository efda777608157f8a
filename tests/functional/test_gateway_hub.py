"""The DaskHub pattern on one machine: a real JupyterHub and a real `dask-gateway-server` that accepts both the
portal (its shared secret, signed in as a person's hub user) and hub users' API tokens (checked against the hub),
with the portal on SQLite and on PostgreSQL.
A person's analysis starts their cluster; their notebook, with their own hub token, lists and opens that same
cluster; another person's token sees nothing; a bad token is refused with 401. Sessions the portal launches get
the gateway's address and nothing secret."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import operator
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import requests
import yaml
from aiohttp import web
from dask_gateway import BasicAuth, Gateway, JupyterHubAuth
from flask import Flask

from portal.app import create_app, services_of
from portal.catalog.model import RecordInput
from portal.demo.generate import generate
from portal.environments.builders import BuiltEnvironment
from portal.identity.principal import COMMAND_LINE
from portal.launch.hub import Hub
from portal.launch.jupyterhub import JupyterHubLauncher
from portal.processing.executors.gateway import WORKER_WAIT, forget_loop
from portal.processing.gateway import gateway_password
from portal.processing.gateway_auth import PortalOrHubAuthenticator
from portal.settings import Settings, load_settings
from tests.support.gateway import gateway_server
from tests.support.jupyter import run_code
from tests.support.postgres import reset_database

RECID = 5101
CHART_VALUES = Path(__file__).resolve().parents[2] / "helm" / "portal" / "values.yaml"


@dataclass
class Portal:
    app: Flask
    settings: Settings  # the gateway's and the hub's addresses, as the portal has them
    hub: Hub
    alice: str  # hub user names: `p-<portal user id>`
    bob: str
    cluster: str  # the name of alice's cluster, started by her analysis
    seconds: float  # how long her analysis took (under load), cluster start included
    warned: list[str]  # what the gateway executor logged meanwhile


def hub_token(hub: Hub, name: str) -> str:
    """A hub API token of hub user ``name``, like the ``JUPYTERHUB_API_TOKEN`` of their sessions. The portal's
    service creates the hub user (as a launch does); the person asks for the token with their own credentials
    (this hub is the DummyAuthenticator one: a password), since the portal's service may not mint tokens."""
    created = requests.post(f"{hub.api}/users/{name}", headers=hub.headers, timeout=30)
    assert created.status_code in (201, 409), created.text
    resp = requests.post(
        f"{hub.api}/users/{name}/tokens",
        json={"auth": {"username": name, "password": hub.password}, "note": "notebook"},
        timeout=30,
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["token"])


@contextmanager
def opened(gateway: Gateway) -> Iterator[Gateway]:
    """``gateway``, closed at the end and made safe to collect (see ``forget_loop``)."""
    try:
        yield gateway
    finally:
        gateway.close()
        forget_loop(gateway)


def names(gateway: Gateway) -> list[str]:
    with opened(gateway):
        return sorted(c.name for c in gateway.list_clusters())


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, Settings]]:
    """The hub and the gateway, started once for the module (both databases' portals use them in turn)."""
    hub = Hub(tmp_path_factory.mktemp("hub")).start()
    try:
        # the gateway's limit is 1 worker per cluster; the portal below asks for 3
        with gateway_server(gateway_max_workers=1, launch_hub_url=hub.url) as (_, gateway):
            yield hub, gateway
    finally:
        hub.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def portal(
    request: pytest.FixtureRequest, servers: tuple[Hub, Settings], tmp_path_factory: pytest.TempPathFactory
) -> Portal:
    """The portal on each database, as the `database_url` fixture gives them (module-scoped here: the hub and the
    gateway are the costly part): its users, jobs and the executor's per-user clusters come from that database."""
    tmp = tmp_path_factory.mktemp(f"portal-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'portal.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
        reset_database(url)
    return _portal(tmp, url, *servers)


def _portal(tmp: Path, database_url: str, hub: Hub, gateway: Settings) -> Portal:
    data = tmp / "tiny"
    generate("tiny", data, formats=("root",))
    files = sorted(data.glob("*.root"))
    settings = load_settings(
        {
            "database_url": database_url,
            "var_dir": str(tmp / "var"),
            "gateway_url": gateway.gateway_url,
            "gateway_password": gateway_password(gateway),
            "gateway_max_workers": 3,  # above the gateway's limit: the executor asks for the 1 it grants
            "processing_chunk_events": 2000,
            "launch_hub_url": hub.url,
            "launch_hub_token": hub.token,
        },
        environ={},
    )
    app = create_app(settings)
    svc = services_of(app)
    assert svc.analyses is not None
    rows = [{"key": p.name, "uri": f"file://{p}", "size": p.stat().st_size} for p in files]
    svc.catalog.load(
        [
            RecordInput(
                {
                    "recid": RECID,
                    "title": "Tiny events for the gateway",
                    "type": {"primary": "Dataset", "secondary": ["Collision"]},
                    "experiment": ["CMS"],
                    "date_published": "2024-05-01",
                },
                files=rows,
            )
        ]
    )
    alice = svc.users.create(COMMAND_LINE, "alice")
    bob = svc.users.create(COMMAND_LINE, "bob")
    job = svc.analyses.create("dimuon", RECID, executor="gateway", owner_id=alice.id, enqueue=False)
    warned: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: warned.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("portal.processing.executors.gateway")
    logger.addHandler(handler)
    started = time.monotonic()
    try:
        done = svc.analyses.run(job.id)
    finally:
        logger.removeHandler(handler)
    seconds = time.monotonic() - started
    assert done.state == "done", done.error
    executor = svc.analyses.executors.get("gateway", user=f"p-{alice.id}")
    return Portal(app, settings, hub, f"p-{alice.id}", f"p-{bob.id}", executor.cluster.name, seconds, warned)


@pytest.fixture(scope="module", autouse=True)
def _close(portal: Portal) -> Iterator[None]:
    yield
    services_of(portal.app).close()  # the executors shut their clusters down before the gateway stops


def test_an_analysis_asking_for_more_workers_than_the_gateway_grants_does_not_wait_for_them(portal: Portal) -> None:
    executor = services_of(portal.app).analyses.executors.get("gateway", user=portal.alice)  # type: ignore[union-attr]
    assert executor.slots() == 1  # the gateway's limit, not the 3 the portal's setting asks for
    assert any("PORTAL_GATEWAY_MAX_WORKERS=3" in message for message in portal.warned), portal.warned
    assert portal.seconds < WORKER_WAIT, portal.seconds  # it used to wait WORKER_WAIT for the 2 refused workers


def test_a_notebook_lists_and_opens_its_owners_cluster_with_its_hub_token(portal: Portal) -> None:
    token = hub_token(portal.hub, portal.alice)
    assert names(Gateway(portal.settings.gateway_url, auth=JupyterHubAuth(token))) == [portal.cluster]
    with opened(Gateway(portal.settings.gateway_url, auth=JupyterHubAuth(token))) as gateway:
        cluster = gateway.connect(portal.cluster)
        client = cluster.get_client(set_as_default=False)
        assert client.submit(operator.add, 1, 2).result(timeout=60) == 3
        client.close()
        cluster.close()  # connected, not created: closing leaves the cluster running for the portal
        forget_loop(cluster.gateway)
    assert names(Gateway(portal.settings.gateway_url, auth=JupyterHubAuth(token))) == [portal.cluster]


def test_another_persons_token_neither_sees_nor_opens_the_cluster(portal: Portal) -> None:
    token = hub_token(portal.hub, portal.bob)
    assert names(Gateway(portal.settings.gateway_url, auth=JupyterHubAuth(token))) == []
    # get_cluster is what connect() asks first; a half-connected GatewayCluster would block in its __del__
    with (
        opened(Gateway(portal.settings.gateway_url, auth=JupyterHubAuth(token))) as gateway,
        pytest.raises(aiohttp.ClientResponseError) as refused,
    ):
        gateway.get_cluster(portal.cluster)
    assert refused.value.status == 403  # the gateway's "lacks permissions to view cluster"


@pytest.mark.parametrize("which", ["unknown", "service"])
def test_a_bad_token_is_refused_with_401(portal: Portal, which: str) -> None:
    # a token the hub does not know, and the portal's own service token (a service is nobody's cluster)
    token = "not-a-hub-token" if which == "unknown" else portal.hub.token
    with pytest.raises(aiohttp.ClientResponseError) as refused:
        names(Gateway(portal.settings.gateway_url, auth=JupyterHubAuth(token)))
    assert refused.value.status == 401


def test_the_portal_still_signs_in_with_the_shared_secret(portal: Portal) -> None:
    url, password = portal.settings.gateway_url, gateway_password(portal.settings)
    assert names(Gateway(url, auth=BasicAuth(portal.alice, password))) == [portal.cluster]
    with pytest.raises(aiohttp.ClientResponseError) as refused:
        names(Gateway(url, auth=BasicAuth(portal.alice, password + "x")))
    assert refused.value.status == 401


SESSION_CODE = """
import json, os
from dask_gateway import Gateway
gateway = Gateway()  # DASK_GATEWAY__ADDRESS, DASK_GATEWAY__AUTH__TYPE=jupyterhub: the session's own hub token
print(json.dumps({
    "clusters": sorted(c.name for c in gateway.list_clusters()),
    "env": {k: v for k, v in os.environ.items() if k.startswith("DASK_GATEWAY")},
    "secrets": sorted(k for k, v in os.environ.items() if PASSWORD in v or "PASSWORD" in k),
}))
gateway.close()
"""


def test_a_session_the_portal_launches_opens_its_owners_cluster(portal: Portal, tmp_path: Path) -> None:
    launcher = JupyterHubLauncher.from_settings(portal.settings)
    # the portal's own environment stands in for a build: it has jupyterhub-singleuser and dask-gateway
    built = BuiltEnvironment("portal-venv", "venv", Path(sys.prefix), Path(sys.executable), False, {})
    events = list(launcher.launch(built, user=portal.alice))
    assert events[-1].phase == "ready", events
    server = str(events[-1].data["server_url"])
    try:
        code = f"PASSWORD = {gateway_password(portal.settings)!r}\n" + SESSION_CODE
        seen = json.loads(run_code(server, portal.hub.token, code, timeout=120).strip().splitlines()[-1])
    finally:
        launcher.stop(portal.alice, server.rstrip("/").split("/")[-1])
    assert seen["clusters"] == [portal.cluster]
    assert seen["env"]["DASK_GATEWAY__ADDRESS"] == portal.settings.gateway_url
    assert seen["env"]["DASK_GATEWAY__AUTH__TYPE"] == "jupyterhub"
    assert seen["secrets"] == []  # never the shared password, under any name


def chart_authenticator() -> Any:
    """The authenticator the Helm chart gives the gateway (its image has no portal package: a copy in values)."""
    values = yaml.safe_load(CHART_VALUES.read_text())
    c = SimpleNamespace(DaskGateway=SimpleNamespace())
    exec(values["dask-gateway"]["gateway"]["extraConfig"]["portal-auth"], {"c": c})  # noqa: S102 - the chart's
    return c.DaskGateway.authenticator_class


@pytest.mark.parametrize("where", ["embedded", "chart"])
def test_the_embedded_and_the_charts_authenticators_agree_on_hub_tokens(portal: Portal, where: str) -> None:
    authenticator = PortalOrHubAuthenticator if where == "embedded" else chart_authenticator()
    tokens = {"alice": hub_token(portal.hub, portal.alice), "unknown": "not-a-hub-token", "service": portal.hub.token}

    async def check() -> dict[str, object]:
        auth = authenticator(jupyterhub_api_url=portal.hub.api, jupyterhub_api_token="unused")
        await auth.setup(None)
        seen: dict[str, object] = {}
        try:
            for name, token in tokens.items():
                request = SimpleNamespace(headers={"Authorization": f"jupyterhub {token}"})
                try:
                    seen[name] = (await auth.authenticate(request)).name
                except web.HTTPException as exc:
                    seen[name] = exc.status
        finally:
            await auth.cleanup()
        return seen

    # in a thread of its own: the browser tests' Playwright keeps an event loop running in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        seen = pool.submit(asyncio.run, check()).result()
    assert seen == {"alice": portal.alice, "unknown": 401, "service": 401}
