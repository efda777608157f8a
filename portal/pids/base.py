"""The PID/DOI provider seam: its interface, and the DOI syntax every provider shares."""

from __future__ import annotations

import re
from typing import Protocol

from portal.errors import Invalid

DOI_PATTERN = re.compile(r"^10\.\d{4,9}/\S+$")


def normalise_doi(text: str) -> str:
    """A bare DOI, lower-cased (DOIs are case-insensitive), from `doi:`, `https://doi.org/...` or bare forms."""
    doi = text.strip()
    for prefix in ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "doi:"):
        if doi.lower().startswith(prefix):
            doi = doi[len(prefix) :]
    if not DOI_PATTERN.match(doi):
        raise Invalid(f"{text!r} is not a DOI (expected 10.<prefix>/<suffix>)", field="doi")
    return doi.lower()


class PIDProvider(Protocol):
    """Mints and registers DOIs. ``register`` is called once a version or concept is published."""

    name: str

    def mint(self, recid: int) -> str:
        """The DOI for ``recid`` (a version or a concept); opaque, no version suffix."""
        ...

    def register(self, doi: str, url: str) -> None:
        """Make ``doi`` resolve to ``url`` (findable). Must be idempotent."""
        ...
