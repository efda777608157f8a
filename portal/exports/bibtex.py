"""BibTeX: an entry for this version's DOI and one for the concept ("all versions") DOI."""

from __future__ import annotations

import re

from portal.exports.common import ExportRecord

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def escape(text: str) -> str:
    return "".join(_SPECIAL.get(ch, ch) for ch in text)


def _key(rec: ExportRecord, suffix: str = "") -> str:
    first = rec.creators[0]
    stem = re.sub(r"[^A-Za-z0-9]", "", (first.family or first.name.split()[0]))[:20] or "record"
    return f"{stem}{rec.year}_{rec.recid}{suffix}"


def _entry(rec: ExportRecord, key: str, doi: str | None, note: str | None) -> str:
    authors = " and ".join("{" + escape(p.name) + "}" if p.organisation else escape(p.name) for p in rec.creators)
    fields = [
        ("title", "{" + escape(rec.title) + "}"),
        ("author", authors),
        ("year", rec.year),
        ("publisher", escape(rec.publisher)),
        ("url", rec.url),
    ]
    if doi:
        fields.append(("doi", doi))
    if rec.version_label and note is None:
        fields.append(("version", escape(rec.version_label)))
    if note:
        fields.append(("note", escape(note)))
    if rec.keywords:
        fields.append(("keywords", escape(", ".join(rec.keywords))))
    body = ",\n".join(f"  {name:<9} = {{{value}}}" for name, value in fields)
    return f"@{rec.rtype.bibtex}{{{key},\n{body}\n}}\n"


def bibtex(rec: ExportRecord) -> str:
    text = _entry(rec, _key(rec), rec.doi, None)
    if rec.concept_doi and rec.concept_doi != rec.doi:
        text += "\n" + _entry(rec, _key(rec, "_all_versions"), rec.concept_doi, "Cite all versions")
    return text
