"""Builds the services from settings: the only module that names concrete backends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from portal.catalog.pids import PROVIDERS, PIDProvider
from portal.catalog.service import CatalogService
from portal.db.engine import Database
from portal.db.migrate import upgrade
from portal.errors import Invalid
from portal.settings import Settings
from portal.stats.service import StatsService


@dataclass
class Services:
    settings: Settings
    db: Database
    pids: PIDProvider
    catalog: CatalogService
    stats: StatsService

    def close(self) -> None:
        self.stats.close()
        self.db.dispose()


def choose(registry: Mapping[str, Any], name: str, setting: str) -> Any:
    """The backend class registered under ``name``; a clear error lists the choices."""
    try:
        return registry[name]
    except KeyError:
        raise Invalid(f"unknown backend {name!r}; choose one of: {', '.join(sorted(registry))}",
                      field=setting) from None


def build_services(settings: Settings, *, migrate: bool = True) -> Services:
    db = Database(settings.database_url)
    if migrate:
        upgrade(db.engine)
    pid_cls = choose(PROVIDERS, settings.pid_provider, "PORTAL_PID_PROVIDER")
    pids = pid_cls(settings.doi_prefix, settings.doi_namespace)
    catalog = CatalogService(db, pids, first_recid=settings.first_recid, base_url=settings.base_url,
                             publisher=settings.site_name)
    stats = StatsService(db, flush_interval=settings.stats_flush_interval)
    return Services(settings=settings, db=db, pids=pids, catalog=catalog, stats=stats)
