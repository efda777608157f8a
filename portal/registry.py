"""Seams: the places where a backend plugs in, each a registry of named implementations.

An implementation is a class with a ``from_settings(settings, **deps)`` classmethod, registered by name in the
seam's entry-point group (``portal.<seam>``). The portal's own implementations are registered the same way, in
``pyproject.toml``, so a third-party package adds a backend by declaring an entry point, with no change here.

Only :mod:`portal.services` resolves names (:meth:`Seam.create`); everything else receives built objects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from portal.errors import Invalid
from portal.i18n import N_

if TYPE_CHECKING:
    from portal.deposit.stores import UploadStore
    from portal.environments.builders import Builder
    from portal.formats.base import FileFormat
    from portal.identity.providers import LocalProvider, RedirectProvider
    from portal.jobqueue.base import JobQueue
    from portal.launch.base import Launcher
    from portal.pids.base import PIDProvider
    from portal.processing.executors.base import Executor
    from portal.search.backends.base import TextBackend
    from portal.storage.base import Storage

T = TypeVar("T")
log = logging.getLogger(__name__)


class FromSettings(Protocol):
    """What every registered implementation provides."""

    @classmethod
    def from_settings(cls, settings: Any, **deps: Any) -> Any:
        """Build the implementation from :class:`portal.settings.Settings` and the objects it depends on;
        raise :class:`portal.errors.Invalid` naming the setting that is missing or wrong."""
        ...


@cache
def _entry_points(group: str) -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        found.setdefault(ep.name, ep)  # the first distribution on sys.path wins, as for imports
    return found


@dataclass(frozen=True)
class Seam(Generic[T]):
    """One seam: its name (entry-point group ``portal.<name>``) and the setting that chooses the implementation.

    ``setting`` is empty for seams whose implementations are all used at once (file formats).
    """

    name: str
    setting: str = ""

    @property
    def group(self) -> str:
        return f"portal.{self.name}"

    def names(self) -> list[str]:
        """Registered implementation names, sorted."""
        return sorted(_entry_points(self.group))

    def load(self, name: str) -> type[T]:
        """The class registered as ``name``; :class:`Invalid` naming the setting and the choices otherwise."""
        found = _entry_points(self.group).get(name)
        if found is None:
            where = f"PORTAL_{self.setting.upper()}" if self.setting else self.group
            choices = ", ".join(self.names()) or "none registered (is the portal package installed?)"
            raise Invalid(
                N_("unknown {name} backend {name2!r}; choose one of: {choices}"),
                name=self.name,
                name2=name,
                choices=choices,
                field=where,
            )
        return cast("type[T]", found.load())

    def create(self, name: str, settings: Any, **deps: Any) -> T:
        """Build the implementation registered as ``name`` from settings and its dependencies."""
        cls = cast("type[FromSettings]", self.load(name))
        built = cls.from_settings(settings, **deps)
        if getattr(cls, "development_only", False):
            # a double or an unisolated shortcut: say so loudly wherever it is switched on
            log.warning("%s backend %r is NOT FOR PRODUCTION: %s", self.name, name, (cls.__doc__ or "").strip())
        return cast(T, built)


# The seams. Each implementation's contract is the docstring of its protocol (named in the comment).
STORAGE: Seam[Storage] = Seam("storage", "storage_backend")  # portal.storage.base.Storage
PIDS: Seam[PIDProvider] = Seam("pids", "pid_provider")  # portal.pids.base.PIDProvider
BUILDERS: Seam[Builder] = Seam("builders", "launch_builder")  # portal.environments.builders.Builder
LAUNCHERS: Seam[Launcher] = Seam("launchers", "launch_launcher")  # portal.launch.base.Launcher
EXECUTORS: Seam[Executor] = Seam("executors", "processing_executor")  # portal.processing.executors.base.Executor
SEARCH: Seam[TextBackend] = Seam("search", "search_backend")  # portal.search.backends.base.TextBackend
# portal.identity.providers: `local` (passwords) and redirect providers (portal.identity.providers.RedirectProvider);
# the setting names which redirect providers are offered, each with its `type` (default `oidc`)
IDENTITY_PROVIDERS: Seam[LocalProvider | RedirectProvider] = Seam("identity_providers", "oidc_providers")
UPLOAD_STORES: Seam[UploadStore] = Seam("upload_stores", "upload_store")  # portal.deposit.stores.UploadStore
QUEUES: Seam[JobQueue] = Seam("queues", "job_queue")  # portal.jobqueue.base.JobQueue
FORMATS: Seam[FileFormat] = Seam("formats")  # portal.formats.base.FileFormat; every registered format is active
