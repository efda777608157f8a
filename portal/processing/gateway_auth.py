"""The Dask Gateway's authenticator in the DaskHub pattern: two ways into one person's cluster.

- The portal, with the shared secret (HTTP Basic, the user name being the person's hub user ``<prefix><id>``),
  runs a person's analyses on their cluster.
- A notebook session, with its JupyterHub API token (``JUPYTERHUB_API_TOKEN``, sent as
  ``Authorization: jupyterhub <token>`` by ``dask_gateway.JupyterHubAuth``), is checked against the hub's
  ``/hub/api/user`` by dask-gateway-server's own :class:`JupyterHubAuthenticator`.

Both name the same user, so ``Gateway(auth="jupyterhub").list_clusters()`` in a person's notebook shows the
cluster their analyses run on, and nobody else's. Sessions never see the shared secret.

Only ``dask-gateway-server`` imports this module (``c.DaskGateway.authenticator_class`` in the config that
:mod:`portal.processing.gateway` writes); the portal's own processes never do.
"""

from __future__ import annotations

import base64
import hmac
import os
import re
from typing import Any

import aiohttp
from aiohttp import web
from dask_gateway_server.auth import JupyterHubAuthenticator, unauthorized
from dask_gateway_server.models import User
from traitlets import Unicode, default

# the names the portal signs in as: hub users (`p-12`, `anon-…`) or `anonymous`; never `kind:name`
_USER = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


class PortalOrHubAuthenticator(JupyterHubAuthenticator):
    """The portal's shared secret (Basic) or a hub user's API token (``jupyterhub``); anything else is 401.

    Without ``jupyterhub_api_url`` (no hub) only the portal gets in."""

    password = Unicode(
        help="The portal's shared secret; default: the PORTAL_GATEWAY_PASSWORD environment variable.",
        config=True,
    )

    @default("password")
    def _default_password(self) -> str:
        return os.environ.get("PORTAL_GATEWAY_PASSWORD", "")

    # The upstream defaults raise when their environment variables are absent; here an absent hub means
    # "the portal only", and the gateway's own hub token is not needed to check a user's token.
    @default("jupyterhub_api_url")
    def _default_jupyterhub_api_url(self) -> str:
        return os.environ.get("JUPYTERHUB_API_URL", "")

    @default("jupyterhub_api_token")
    def _default_jupyterhub_api_token(self) -> str:
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    @default("use_service_access_scopes")
    def _default_use_service_access_scopes(self) -> bool:
        # every hub user may have a cluster (a session's server token carries no access:services scope); the
        # gateway registered as a hub service (jupyterhub_service_name) can still require the scope
        return bool(self.jupyterhub_service_name)

    async def authenticate(self, request: Any) -> User:
        kind, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if kind == "Basic":
            return self._portal(credentials)
        if kind == "jupyterhub" and self.jupyterhub_api_url:
            return await self._hub_user(request)
        raise unauthorized("jupyterhub" if self.jupyterhub_api_url else "Basic")

    def _portal(self, credentials: str) -> User:
        try:
            user, sep, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except ValueError:  # not base64, not UTF-8
            raise unauthorized("Basic") from None
        # compare_digest: the answer's timing says nothing about how much of the secret was right
        if not (self.password and sep and _USER.match(user)):
            raise unauthorized("Basic")
        if not hmac.compare_digest(password.encode(), self.password.encode()):
            raise unauthorized("Basic")
        return User(user)

    async def _hub_user(self, request: Any) -> User:
        try:
            user = await super().authenticate(request)
        except web.HTTPInternalServerError:
            # the hub answered 4xx: JupyterHub answers 403 (not 404) for a token it does not know, which the
            # upstream class reports as its own permission failure (500); to the caller it is a refused token
            raise unauthorized("jupyterhub") from None
        except aiohttp.ClientError:
            raise web.HTTPServiceUnavailable(reason="JupyterHub cannot be reached to check the token") from None
        if ":" in user.name:  # a service's token (`service:<name>`): no person's cluster to open
            raise unauthorized("jupyterhub")
        return user
