"""Local DOIs: minted under a prefix, registered nowhere (the embedded default)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from portal.errors import Invalid
from portal.i18n import N_

if TYPE_CHECKING:
    from portal.settings import Settings


class LocalPIDProvider:
    """Mints `prefix/namespace.recid` DOIs without registering them anywhere (DataCite test prefix by default).

    Registration is a no-op: DOIs from this provider resolve only inside the portal (`/doi/<doi>`).
    """

    name = "local"
    remote = False

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalPIDProvider:
        return cls(settings.doi_prefix, settings.doi_namespace)

    def __init__(self, prefix: str, namespace: str) -> None:
        if not re.match(r"^10\.\d{4,9}$", prefix):
            raise Invalid(N_("DOI prefix {prefix!r} must look like 10.NNNN"), prefix=prefix, field="PORTAL_DOI_PREFIX")
        self.prefix = prefix
        self.namespace = namespace

    def mint(self, recid: int) -> str:
        return f"{self.prefix}/{self.namespace}.{recid}"

    def reserve(self, doi: str, metadata: dict[str, Any] | None = None) -> None:
        return None

    def register(self, doi: str, url: str, metadata: dict[str, Any] | None = None) -> None:
        return None
