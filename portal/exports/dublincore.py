"""Dublin Core (`oai_dc`) XML, as OAI-PMH's mandatory format and a plain export."""

from __future__ import annotations

from lxml import etree

from portal.exports.common import ExportRecord

OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def dublin_core(rec: ExportRecord) -> etree._Element:
    root = etree.Element(f"{{{OAI_DC}}}dc", nsmap={"oai_dc": OAI_DC, "dc": DC, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{OAI_DC} http://www.openarchives.org/OAI/2.0/oai_dc.xsd")

    def add(name: str, value: str | None) -> None:
        if value:
            etree.SubElement(root, f"{{{DC}}}{name}").text = value

    add("title", rec.title)
    for p in rec.creators:
        add("creator", p.name)
    for k in rec.keywords:
        add("subject", k)
    add("description", rec.description)
    add("publisher", rec.publisher)
    add("date", str(rec.md["date_published"]))
    add("type", rec.rtype.dublin_core)
    if rec.doi:
        add("identifier", f"https://doi.org/{rec.doi}")
    add("identifier", rec.url)
    for r in rec.related:
        add("relation", f"https://doi.org/{r.identifier}" if r.scheme == "DOI" else r.identifier)
    if rec.license_url:
        add("rights", rec.license_url)
    for fmt in (rec.md.get("distribution") or {}).get("formats") or []:
        add("format", str(fmt))
    add("language", rec.md.get("language"))
    return root


def dublin_core_xml(rec: ExportRecord) -> str:
    return etree.tostring(dublin_core(rec), pretty_print=True, xml_declaration=True, encoding="UTF-8").decode()
