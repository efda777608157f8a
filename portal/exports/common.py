"""What every export needs from a record, computed once: people, dates, types, texts, links, relations."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from portal.catalog.service import RecordView
from portal.catalog.vocabulary import ResourceType, datacite_relation, resource_type

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def plain_text(markup: str | None) -> str:
    """Markdown/HTML description as one line of plain text (for DataCite, Dublin Core, BibTeX)."""
    if not markup:
        return ""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", markup))).strip()


@dataclass(frozen=True)
class Person:
    name: str  # "Family, Given" or an organisation
    given: str | None = None
    family: str | None = None
    orcid: str | None = None
    affiliation: str | None = None
    organisation: bool = False


# Words that make an author name without a comma an organisation (the record schema, CERN Open Data's, has no
# name type: people are written "Family, Given", and "Portal Demo Team" or "CMS Collaboration" are organisations).
ORGANISATION_WORDS = frozenset(
    (
        "team",
        "collaboration",
        "group",
        "consortium",
        "project",
        "laboratory",
        "lab",
        "institute",
        "institut",
        "university",
        "université",
        "centre",
        "center",
        "committee",
        "organisation",
        "organization",
        "association",
        "society",
        "foundation",
        "network",
        "initiative",
        "experiment",
        "office",
        "department",
        "agency",
        "council",
        "cern",
        "inc",
        "ltd",
        "gmbh",
        "contributors",
        "community",
    )
)


def is_organisation(name: str) -> bool:
    """Whether an author ``name`` is an organisation: no "Family, Given" comma and a word of
    :data:`ORGANISATION_WORDS` (case-insensitive), or a single all-capitals word (an acronym such as ATLAS)."""
    if "," in name:
        return False
    words = name.replace("-", " ").split()
    if len(words) == 1 and len(words[0]) > 1 and words[0].isupper():
        return True
    return any(w.lower().strip(".()") in ORGANISATION_WORDS for w in words)


@dataclass(frozen=True)
class Related:
    relation: str  # stored (lower camel) relation type
    identifier: str
    scheme: str  # "DOI" | "URL" | ...
    resource_type: str | None = None

    @property
    def datacite_relation(self) -> str:
        return datacite_relation(self.relation)


@dataclass
class ExportRecord:
    """A record version seen by the exporters."""

    view: RecordView
    base_url: str
    related: list[Related] = field(default_factory=list)

    @property
    def md(self) -> dict[str, Any]:
        return self.view.metadata

    @property
    def recid(self) -> int:
        return self.view.recid

    @property
    def url(self) -> str:
        return f"{self.base_url.rstrip('/')}/record/{self.view.recid}"

    @property
    def doi(self) -> str | None:
        return self.view.doi

    @property
    def concept_doi(self) -> str | None:
        return self.view.concept_doi

    @property
    def title(self) -> str:
        return str(self.md["title"])

    @property
    def rtype(self) -> ResourceType:
        return resource_type(self.md["type"]["primary"])

    @property
    def subtype(self) -> str | None:
        secondary = self.md["type"].get("secondary") or []
        return secondary[0] if secondary else None

    @property
    def year(self) -> str:
        return str(self.md["date_published"])[:4]

    @property
    def publisher(self) -> str:
        return str(self.md.get("publisher") or "Open Experiment Data Portal")

    @property
    def version_label(self) -> str | None:
        return self.md.get("version")

    @property
    def description(self) -> str:
        return plain_text((self.md.get("abstract") or {}).get("description"))

    @property
    def keywords(self) -> list[str]:
        return [str(k) for k in self.md.get("keywords") or []]

    @property
    def license_id(self) -> str | None:
        return (self.md.get("license") or {}).get("attribution")

    @property
    def license_url(self) -> str | None:
        return f"https://spdx.org/licenses/{self.license_id}.html" if self.license_id else None

    @property
    def creators(self) -> list[Person]:
        """Authors; else the collaboration; else the experiment(s); else the publisher, as organisations."""
        people = []
        for author in self.md.get("authors") or []:
            name = str(author["name"]).strip()
            if is_organisation(name):
                people.append(
                    Person(name=name, affiliation=author.get("affiliation"), organisation=True)
                )  # a literal name: never inverted as "Team, P. D."
                continue
            family, given = (p.strip() for p in name.split(",", 1)) if "," in name else (None, None)
            if family is None and " " in name:
                given, family = name.rsplit(" ", 1)
            people.append(
                Person(
                    name=f"{family}, {given}" if family and given else name,
                    given=given,
                    family=family,
                    orcid=author.get("orcid"),
                    affiliation=author.get("affiliation"),
                )
            )
        if people:
            return people
        collaboration = (self.md.get("collaboration") or {}).get("name")
        if collaboration:
            return [Person(name=collaboration, organisation=True)]
        experiments = self.md.get("experiment") or []
        if experiments:
            return [Person(name=f"{e} Collaboration", organisation=True) for e in experiments]
        return [Person(name=self.publisher, organisation=True)]


def related_identifiers(view: RecordView, dois: dict[int, str | None], base_url: str) -> list[Related]:
    """Version links (IsVersionOf the concept) and the record's relations as identifiers.

    Relations to a record of this portal use its DOI when it has one, else its landing page URL.
    """
    out: list[Related] = []
    if view.concept_doi and view.concept_doi != view.doi:
        out.append(Related("isVersionOf", view.concept_doi, "DOI"))
    for rel in view.metadata.get("relations") or []:
        kind = rel["type"]
        if rel.get("doi"):
            out.append(Related(kind, str(rel["doi"]), "DOI", rel.get("resource_type")))
        elif rel.get("recid"):
            target = int(rel["recid"])
            doi = dois.get(target)
            if doi:
                out.append(Related(kind, doi, "DOI", rel.get("resource_type")))
            else:
                out.append(Related(kind, f"{base_url.rstrip('/')}/record/{target}", "URL", rel.get("resource_type")))
        elif rel.get("identifier"):
            scheme = {
                "doi": "DOI",
                "url": "URL",
                "arxiv": "arXiv",
                "handle": "Handle",
                "isbn": "ISBN",
                "issn": "ISSN",
                "purl": "PURL",
                "urn": "URN",
                "ark": "ARK",
                "swh": "URL",
                "w3id": "w3id",
            }
            out.append(
                Related(
                    kind, str(rel["identifier"]), scheme.get(rel.get("scheme", "url"), "URL"), rel.get("resource_type")
                )
            )
    return out
