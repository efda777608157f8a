"""The identifiers a citing work may be given by (DOI, arXiv, INSPIRE), each checked for form and normalised, with
how it is exported (DataCite's relatedIdentifierType and value) and linked."""

from __future__ import annotations

import re
from dataclasses import dataclass

from portal.errors import Invalid
from portal.i18n import N_
from portal.pids.base import normalise_doi

#: the relations an external work may have with a record, as stored (DataCite's, in lower camel case)
RELATIONS = ("isCitedBy", "isReferencedBy", "isSupplementTo")
SCHEMES = ("doi", "arxiv", "inspire")

# arXiv identifiers since 2007 (YYMM.NNNN[N]) and before (archive[.SC]/YYMMNNN), each with an optional version
_ARXIV = re.compile(r"^(?:\d{4}\.\d{4,5}|[a-z][a-z.-]*(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?$", re.IGNORECASE)
_ARXIV_PREFIXES = ("https://arxiv.org/abs/", "http://arxiv.org/abs/", "arxiv:")
_INSPIRE = re.compile(
    r"^(?:(?:https?://)?(?:www\.)?inspirehep\.net/(?:literature|record)/)?(\d{1,10})/?$", re.IGNORECASE
)


@dataclass(frozen=True)
class WorkId:
    """A citing work's identifier, normalised: ``scheme`` one of :data:`SCHEMES`."""

    scheme: str
    value: str

    @property
    def url(self) -> str:
        if self.scheme == "doi":
            return f"https://doi.org/{self.value}"
        if self.scheme == "arxiv":
            return f"https://arxiv.org/abs/{self.value}"
        return f"https://inspirehep.net/literature/{self.value}"

    @property
    def datacite(self) -> tuple[str, str]:
        """(relatedIdentifierType, relatedIdentifier) as DataCite has them (INSPIRE has no type there: its URL)."""
        if self.scheme == "doi":
            return "DOI", self.value
        if self.scheme == "arxiv":
            return "arXiv", f"arXiv:{self.value}"
        return "URL", self.url

    @property
    def label(self) -> str:
        return {"doi": "doi:", "arxiv": "arXiv:", "inspire": "INSPIRE "}[self.scheme] + self.value


def parse_work_id(text: str, scheme: str | None = None, *, field: str = "identifier") -> WorkId:
    """The identifier ``text`` of scheme ``scheme`` (None: recognised from its form), or Invalid naming ``field``."""
    raw = (text or "").strip()
    if not raw:
        raise Invalid(N_("give the citing work's DOI, arXiv id or INSPIRE id"), field=field)
    if scheme is not None and scheme not in SCHEMES:
        raise Invalid(N_("scheme must be one of {schemes}"), schemes=", ".join(SCHEMES), field="scheme")
    guesses = [scheme] if scheme else _guess(raw)
    for guess in guesses:
        found = _parse(raw, guess)
        if found is not None:
            return found
    wanted = f"a {scheme} identifier" if scheme else "a DOI (10.x/y), an arXiv id (2101.01234) or an INSPIRE id"
    raise Invalid(N_("{raw!r} is not {wanted}"), raw=raw, wanted=wanted, field=field)


def _guess(raw: str) -> list[str]:
    lowered = raw.lower()
    if lowered.startswith(("arxiv:", "https://arxiv.org", "http://arxiv.org")):
        return ["arxiv"]
    if "inspirehep.net" in lowered or raw.isdigit():
        return ["inspire"]
    return ["doi", "arxiv"]


def _parse(raw: str, scheme: str) -> WorkId | None:
    if scheme == "doi":
        try:
            return WorkId("doi", normalise_doi(raw))
        except Invalid:
            return None
    if scheme == "arxiv":
        value = raw
        for prefix in _ARXIV_PREFIXES:
            if value.lower().startswith(prefix):
                value = value[len(prefix) :]
        return WorkId("arxiv", value) if _ARXIV.match(value) else None
    found = _INSPIRE.match(raw)
    return WorkId("inspire", found.group(1)) if found else None


def check_relation(relation: str, *, field: str = "relation") -> str:
    """``relation`` as stored (DataCite's spelling in any case is accepted), or Invalid naming ``field``."""
    for known in RELATIONS:
        if (relation or "").strip().lower() == known.lower():
            return known
    raise Invalid(N_("relation must be one of {relations}"), relations=", ".join(RELATIONS), field=field)
