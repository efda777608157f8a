"""PID provider doubles: one that records what it was asked (unit tests), one that is down (failure modes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from portal.errors import Unavailable
from portal.i18n import N_

if TYPE_CHECKING:
    from portal.settings import Settings


class RecordingPIDProvider:
    """Mints `prefix/fake.N` and remembers every registration (doi -> url) instead of sending it anywhere."""

    name = "recording"
    development_only = True
    remote = True

    def __init__(self, prefix: str = "10.5072") -> None:
        self.prefix = prefix
        self.registered: dict[str, str] = {}
        self.reserved: set[str] = set()
        self.metadata: dict[str, dict[str, Any]] = {}

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> RecordingPIDProvider:
        return cls(settings.doi_prefix)

    def mint(self, recid: int) -> str:
        return f"{self.prefix}/fake.{recid}"

    def reserve(self, doi: str, metadata: dict[str, Any] | None = None) -> None:
        self.reserved.add(doi)

    def register(self, doi: str, url: str, metadata: dict[str, Any] | None = None) -> None:
        self.registered[doi] = url
        if metadata is not None:
            self.metadata[doi] = metadata


class DownPIDProvider(RecordingPIDProvider):
    """Mints, but every registration fails as a registry that is down would (Unavailable: 503)."""

    name = "down"

    def register(self, doi: str, url: str, metadata: dict[str, Any] | None = None) -> None:
        raise Unavailable(N_("the DOI registry is down: {doi} was not registered"), doi=doi)
