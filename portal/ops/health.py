"""Readiness: can this process serve requests now? Each dependency is probed with a short timeout and
answers with a reason, so `/readyz` tells an operator (or Kubernetes) what is wrong, not only that
something is."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import text

from portal.errors import PortalError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass(frozen=True)
class Readiness:
    checks: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def reasons(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.ok]


def _timed(name: str, probe: Callable[[], str]) -> Check:
    started = time.perf_counter()
    try:
        detail = probe()
        ok = True
    except PortalError as exc:
        ok, detail = False, exc.message
    except Exception as exc:  # a probe reports any failure of its server; it never raises to the caller
        ok, detail = False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    return Check(name, ok, detail, round(time.perf_counter() - started, 4))


def readiness(services: object) -> Readiness:
    """Probe the database, the storage and the search snapshot of ``services`` (a `portal.services.Services`)."""
    from portal.services import Services

    assert isinstance(services, Services)

    def database() -> str:
        # pool_pre_ping replaces connections that died with the server, so this recovers without a restart
        with services.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return services.db.engine.dialect.name

    def storage() -> str:
        services.storage.probe()
        return services.storage.name

    def search() -> str:
        return services.search.probe()

    return Readiness([_timed("database", database), _timed("storage", storage), _timed("search", search)])
