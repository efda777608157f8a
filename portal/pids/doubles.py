"""PID provider doubles: one that records what it was asked (unit tests), one that is down (failure modes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from portal.errors import Unavailable

if TYPE_CHECKING:
    from portal.settings import Settings


class RecordingPIDProvider:
    """Mints `prefix/fake.N` and remembers every registration (doi -> url) instead of sending it anywhere."""

    name = "recording"
    development_only = True

    def __init__(self, prefix: str = "10.5072") -> None:
        self.prefix = prefix
        self.registered: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: Settings, **_: Any) -> RecordingPIDProvider:
        return cls(settings.doi_prefix)

    def mint(self, recid: int) -> str:
        return f"{self.prefix}/fake.{recid}"

    def register(self, doi: str, url: str) -> None:
        self.registered[doi] = url


class DownPIDProvider(RecordingPIDProvider):
    """Mints, but every registration fails as a registry that is down would (Unavailable: 503)."""

    name = "down"

    def register(self, doi: str, url: str) -> None:
        raise Unavailable(f"the DOI registry is down: {doi} was not registered")
