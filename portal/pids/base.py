"""The PID/DOI provider seam: its interface, and the DOI syntax every provider shares."""

from __future__ import annotations

import re
from typing import Any, Protocol

from portal.errors import Invalid
from portal.i18n import N_

DOI_PATTERN = re.compile(r"^10\.\d{4,9}/\S+$")


def normalise_doi(text: str) -> str:
    """A bare DOI, lower-cased (DOIs are case-insensitive), from `doi:`, `https://doi.org/...` or bare forms."""
    doi = text.strip()
    for prefix in ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "doi:"):
        if doi.lower().startswith(prefix):
            doi = doi[len(prefix) :]
    if not DOI_PATTERN.match(doi):
        raise Invalid(N_("{text!r} is not a DOI (expected 10.<prefix>/<suffix>)"), text=text, field="doi")
    return doi.lower()


class PIDProvider(Protocol):
    """Mints and registers DOIs.

    A provider with ``remote = True`` registers with an outside registry: the portal then records each DOI to
    register in its pending-registration table inside the publishing transaction, and calls ``register`` after
    the commit and again, with backoff, until it succeeds (``portal.pids.registrations``). A provider with
    ``remote = False`` registers nothing: its DOIs resolve only inside the portal.
    """

    name: str
    remote: bool

    def mint(self, recid: int) -> str:
        """The DOI for ``recid`` (a version or a concept); opaque, no version suffix."""
        ...

    def reserve(self, doi: str, metadata: dict[str, Any] | None = None) -> None:
        """Reserve ``doi`` as a draft (not resolvable yet). Must be idempotent."""
        ...

    def register(self, doi: str, url: str, metadata: dict[str, Any] | None = None) -> None:
        """Make ``doi`` resolve to ``url`` (findable) with ``metadata`` (DataCite JSON, kernel 4.5), or update
        both when it is findable already. Must be idempotent.

        Raises:
            Invalid: the registry refused the metadata (``field`` names the attribute it refused); sending the same
                again will not help.
            Unavailable: the registry could not be reached or failed; sending again later may succeed.
        """
        ...
