"""``gateway``: each person's analyses run on their own Dask cluster, handed out by a Dask Gateway
(`dask-gateway-server`; the embedded one in :mod:`portal.processing.gateway`, or a site's, as in DaskHub and
coffea-casa facilities). The gateway enforces the per-user limits (workers, cores, memory, idle timeout);
a user's concurrent jobs share that user's cluster, so work beyond its workers queues there instead of
starting more."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import warnings
from typing import Any, ClassVar

from portal.errors import Invalid, Unavailable
from portal.i18n import N_
from portal.processing.executors.cluster import DaskExecutor

ANONYMOUS = "anonymous"
WORKER_WAIT = 120  # seconds; starting worker processes on a loaded 2-core machine takes tens of seconds
_USER = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
# dask-gateway-server's answer to a scale above its limit: "... Scaling to 2 instead."
_LIMIT = re.compile(r"Scaling to (\d+) instead")
_SCALE_LOCK = threading.Lock()
log = logging.getLogger(__name__)


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
    def connect(cls, url: str, password: str, user: str, workers: int, *, proxy_address: str = "") -> GatewayExecutor:
        """``user``'s cluster on the gateway at ``url``, signed in with the shared ``password``, scaled to
        ``workers`` or to the gateway's per-cluster limit when that is lower (waiting only for the workers the
        gateway grants). Invalid for a missing address or a bad user name; Unavailable when the gateway cannot be
        reached or refuses the portal."""
        import aiohttp
        from dask_gateway import BasicAuth, Gateway
        from dask_gateway.client import ClusterStatus

        if not url:
            raise Invalid(N_("executor 'gateway' needs the gateway's address"), field="PORTAL_GATEWAY_URL")
        if not _USER.match(user):
            raise Invalid(N_("not a gateway user name: {user!r}"), user=user, field="user")
        gateway = Gateway(url, proxy_address=proxy_address or None, auth=BasicAuth(user, password))
        try:
            # ClusterStatus is an IntEnum: on Python 3.11 its str() is the number, so compare members
            running = [c for c in gateway.list_clusters() if c.status == ClusterStatus.RUNNING]
            cluster = gateway.connect(running[0].name) if running else gateway.new_cluster()
            granted = _scale(cluster, workers)
            client = cluster.get_client(set_as_default=False)
        except (OSError, ValueError, aiohttp.ClientError) as exc:
            gateway.close()
            raise Unavailable(
                N_("cannot get a cluster for {user} from the Dask Gateway at {url}: {exc}"), user=user, url=url, exc=exc
            ) from exc
        # the planner sizes tasks by the threads it sees: let the workers granted arrive first; with fewer (a busy
        # machine) tasks queue on those there are
        with contextlib.suppress(TimeoutError):
            client.wait_for_workers(granted, timeout=WORKER_WAIT)
        return cls(client, cluster, user, gateway)

    @classmethod
    def from_settings(cls, settings: Any, *, user: str | None = None, **_: Any) -> GatewayExecutor:
        from portal.processing.gateway import gateway_password

        return cls.connect(
            settings.gateway_url,
            gateway_password(settings),
            user or ANONYMOUS,
            settings.gateway_max_workers,
            proxy_address=settings.gateway_proxy_address,
        )

    def alive(self) -> bool:
        """The cluster still runs on the gateway (its idle timeout, or its owner's notebook, may have shut it
        down), asked of the gateway itself: the client's own status lags behind a cluster that is gone."""
        from dask_gateway.client import ClusterStatus

        if self.client.status != "running":
            return False
        try:
            report = self._gateway.get_cluster(self.cluster.name)
        except Exception:  # noqa: BLE001 - any failure to find the cluster means: build a new executor
            return False
        return bool(report.status == ClusterStatus.RUNNING)

    def close(self) -> None:
        self.client.close()
        try:
            self.cluster.shutdown()
        finally:
            self.cluster.close()
            self._gateway.close()
            for closed in (self._gateway, getattr(self.cluster, "gateway", None)):
                forget_loop(closed)


def _scale(cluster: Any, workers: int) -> int:
    """Scale ``cluster`` to ``workers`` and return how many the gateway grants: it scales a request above its
    per-cluster limit down to that limit and says so only in a warning (``GatewayWarning``), whose number is read
    here so that nobody waits WORKER_WAIT seconds for workers that will never come."""
    from dask_gateway import GatewayWarning

    # catch_warnings swaps process-wide state: one scale at a time, so two never restore each other's filters
    with _SCALE_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GatewayWarning)
        cluster.scale(workers)
    for warning in caught:
        limit = _LIMIT.search(str(warning.message)) if issubclass(warning.category, GatewayWarning) else None
        if limit is not None and int(limit.group(1)) < workers:
            log.warning(
                "the gateway grants %s workers per cluster, fewer than PORTAL_GATEWAY_MAX_WORKERS=%s: using %s",
                limit.group(1),
                workers,
                limit.group(1),
            )
            return int(limit.group(1))
    return workers


def forget_loop(gateway: Any) -> None:
    """A closed dask-gateway ``Gateway`` closes itself again when collected, and then asks its stopped loop runner
    for its loop, which raises inside ``__del__`` (an unraisable exception at a random later moment; in a compile
    it even aborts the interpreter's parser). Its ``__del__`` skips an object without a loop runner."""
    with contextlib.suppress(AttributeError):
        del gateway._loop_runner
