"""Serialise records in every export format, by name or by media type (content negotiation)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from portal.catalog.service import CatalogService, RecordView
from portal.errors import NotFound
from portal.exports import bibtex, csl, datacite, dublincore, jsonld
from portal.exports.common import ExportRecord, Related, related_identifiers
from portal.exports.rendered import RenderedCitations
from portal.i18n import N_


@dataclass(frozen=True)
class StyledCitation:
    """A record's reference in a style the user gave: the style's title and the formatted text."""

    recid: int
    style: str
    citation: str

    def to_json(self) -> dict[str, object]:
        return {"recid": self.recid, "style": self.style, "citation": self.citation}


@dataclass(frozen=True)
class Format:
    name: str
    mimetype: str
    render: Callable[[ExportRecord], str]
    label: str


def _json(obj: object) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("datacite-xml", "application/vnd.datacite.datacite+xml", datacite.datacite_xml, "DataCite XML"),
        Format(
            "datacite-json",
            "application/vnd.datacite.datacite+json",
            lambda r: _json(datacite.datacite_json(r)),
            "DataCite JSON",
        ),
        Format("json-ld", "application/ld+json", lambda r: _json(jsonld.jsonld(r)), "schema.org JSON-LD"),
        Format("csl", "application/vnd.citationstyles.csl+json", lambda r: _json(csl.csl_json(r)), "CSL-JSON"),
        Format("bibtex", "application/x-bibtex", bibtex.bibtex, "BibTeX"),
        Format("dublincore", "application/x-dc+xml", dublincore.dublin_core_xml, "Dublin Core"),
        Format("apa", "text/x-bibliography; style=apa", lambda r: csl.citation(r, "apa"), "APA"),
        Format("harvard", "text/x-bibliography; style=harvard", lambda r: csl.citation(r, "harvard"), "Harvard"),
        Format("chicago", "text/x-bibliography; style=chicago", lambda r: csl.citation(r, "chicago"), "Chicago"),
    )
}
NEGOTIABLE = {f.mimetype.split(";")[0]: f for f in FORMATS.values() if not f.mimetype.startswith("text/")}
NEGOTIABLE["application/x-bibtex"] = FORMATS["bibtex"]


def export_format(name: str) -> Format:
    fmt = FORMATS.get(name)
    if fmt is None:
        raise NotFound(
            N_("no export format {name!r}; choose one of {choices}"),
            name=name,
            choices=", ".join(FORMATS),
            field="format",
        )
    return fmt


class ExportService:
    def __init__(
        self,
        catalog: CatalogService,
        base_url: str,
        *,
        cited_by: Callable[[int | None], list[Related]] | None = None,
        rendered: RenderedCitations | None = None,
    ) -> None:
        """``cited_by(concept_recid)``: the external works citing a record, exported among its related identifiers.
        ``rendered``: where formatted citations are kept per record version (None: this process's cache only)."""
        self.catalog = catalog
        self.base_url = base_url
        self.cited_by = cited_by
        self.rendered = rendered

    def citations(self, record: ExportRecord, names: Sequence[str]) -> dict[str, str]:
        """The bodies of a published record version in the formats ``names`` (in that order); the bundled CSL
        styles among them come from the stored formatted citations (see :mod:`portal.exports.rendered`)."""
        styled = [n for n in names if n in csl.STYLES]
        kept = self.rendered.citations(record, styled) if self.rendered is not None and styled else {}
        return {name: kept[name] if name in kept else self.render_record(record, name)[0] for name in names}

    def record(self, recid: int, view: RecordView | None = None) -> ExportRecord:
        """The export view of ``recid``; pass its catalogue ``view`` when it is at hand, to read it only once."""
        view = view if view is not None and view.recid == recid else self.catalog.get(recid)
        targets = [int(r["recid"]) for r in view.metadata.get("relations") or [] if r.get("recid")]
        dois = self.catalog.dois_for(targets)
        related = related_identifiers(view, dois, self.base_url)
        if self.cited_by is not None:
            related += self.cited_by(view.concept_recid)
        return ExportRecord(view=view, base_url=self.base_url, related=related)

    def render(self, recid: int, name: str) -> tuple[str, str]:
        """(body, mimetype) of record ``recid`` in format ``name``."""
        fmt = export_format(name)
        return fmt.render(self.record(recid)), fmt.mimetype

    @staticmethod
    def render_record(record: ExportRecord, name: str) -> tuple[str, str]:
        """(body, mimetype) of an export view already built (a page rendering several formats builds it once)."""
        fmt = export_format(name)
        return fmt.render(record), fmt.mimetype

    def concept_datacite(self, recid: int) -> dict[str, object]:
        """DataCite JSON of the concept DOI of ``recid``: HasVersion for every published version."""
        versions = self.catalog.versions(recid)
        latest = self.record(versions[0].recid)
        return datacite.concept_datacite_json(latest, [v.doi for v in versions if v.doi])

    def cite_with_style(self, recid: int, style_xml: bytes) -> StyledCitation:
        """Record ``recid`` formatted with a user's CSL style (XML), checked before it is used.

        Raises:
            NotFound: no such record. Invalid (field `style`): not XML, not a valid CSL 1.0 style, or a style
                that fails on this record.
        """
        style = csl.parse_style(style_xml)
        rec = self.record(recid)
        return StyledCitation(rec.recid, csl.style_title(style), csl.format_citation(csl.csl_json(rec), style))
