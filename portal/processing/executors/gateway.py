"""``gateway``: each person's analyses run on their own Dask cluster, handed out by a Dask Gateway
(`dask-gateway-server`; the embedded one in :mod:`portal.processing.gateway`, or a site's, as in DaskHub and
coffea-casa facilities). The gateway enforces the per-user limits (workers, cores, memory, idle timeout);
a user's concurrent jobs share that user's cluster, so work beyond its workers queues there instead of
starting more."""

from __future__ import annotations

import contextlib
import re
from typing import Any, ClassVar

from portal.errors import Invalid, Unavailable
from portal.i18n import N_
from portal.processing.executors.cluster import DaskExecutor

ANONYMOUS = "anonymous"
WORKER_WAIT = 120  # seconds; starting worker processes on a loaded 2-core machine takes tens of seconds
_USER = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


class GatewayExecutor(DaskExecutor):
    """The cluster of one gateway user: reconnects to the user's running cluster or starts one, scaled to
    ``workers``. ``close()`` disconnects and shuts the cluster down (the gateway's idle timeout would anyway)."""

    name = "gateway"
    #: the executor pool builds one of these per user, not one per process
    per_user: ClassVar[bool] = True

    def __init__(self, client: Any, cluster: Any, user: str, gateway: Any) -> None:
        super().__init__(client, own_cluster=None)
        self.cluster = cluster
        self.user = user
        self._gateway = gateway  # closed last: the cluster talks to the gateway through it

    @classmethod
    def connect(cls, url: str, password: str, user: str, workers: int) -> GatewayExecutor:
        from dask_gateway import BasicAuth, Gateway

        if not url:
            raise Invalid(N_("executor 'gateway' needs the gateway's address"), field="PORTAL_GATEWAY_URL")
        if not _USER.match(user):
            raise Invalid(N_("not a gateway user name: {user!r}"), user=user, field="user")
        gateway = Gateway(url, auth=BasicAuth(user, password))
        try:
            running = [c for c in gateway.list_clusters() if str(c.status).endswith("RUNNING")]
            cluster = gateway.connect(running[0].name) if running else gateway.new_cluster()
            cluster.scale(workers)
            client = cluster.get_client(set_as_default=False)
        except (OSError, ValueError) as exc:
            gateway.close()
            raise Unavailable(
                N_("cannot get a cluster for {user} from the Dask Gateway at {url}: {exc}"), user=user, url=url, exc=exc
            ) from exc
        # the planner sizes tasks by the threads it sees: let the workers asked for arrive first; with fewer (the
        # gateway's limits, a busy machine) tasks queue on those there are
        with contextlib.suppress(TimeoutError):
            client.wait_for_workers(workers, timeout=WORKER_WAIT)
        return cls(client, cluster, user, gateway)

    @classmethod
    def from_settings(cls, settings: Any, *, user: str | None = None, **_: Any) -> GatewayExecutor:
        from portal.processing.gateway import gateway_password

        return cls.connect(
            settings.gateway_url, gateway_password(settings), user or ANONYMOUS, settings.gateway_max_workers
        )

    def close(self) -> None:
        self.client.close()
        try:
            self.cluster.shutdown()
        finally:
            self.cluster.close()
            self._gateway.close()
            for closed in (self._gateway, getattr(self.cluster, "gateway", None)):
                _forget_loop(closed)


def _forget_loop(gateway: Any) -> None:
    """A closed dask-gateway ``Gateway`` closes itself again when collected, and then asks its stopped loop runner
    for its loop, which raises inside ``__del__`` (an unraisable exception at a random later moment; in a compile
    it even aborts the interpreter's parser). Its ``__del__`` skips an object without a loop runner."""
    with contextlib.suppress(AttributeError):
        del gateway._loop_runner
