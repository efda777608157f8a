"""CSL-JSON, and formatted citations in a few common styles written from it (APA 7, Harvard, Chicago)."""

from __future__ import annotations

from typing import Any

from portal.errors import NotFound
from portal.exports.common import ExportRecord, Person


def csl_json(rec: ExportRecord) -> dict[str, Any]:
    authors = []
    for p in rec.creators:
        if p.family and p.given:
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


def _initials(given: str) -> str:
    return " ".join(f"{part[0]}." for part in given.replace("-", " ").split() if part)


def _apa_name(p: Person) -> str:
    return f"{p.family}, {_initials(p.given)}" if p.family and p.given else p.name


def _join(names: list[str], final: str) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + f", {final} " + names[-1]


def citation(rec: ExportRecord, style: str) -> str:
    """One formatted reference (plain text) for ``style``: apa, harvard or chicago."""
    people = rec.creators
    version = f" (Version {rec.version_label})" if rec.version_label else ""
    kind = {"Dataset": "Data set", "Software": "Computer software", "Lesson": "Learning resource"}.get(
        rec.rtype.primary, rec.rtype.primary
    )
    link = f"https://doi.org/{rec.doi}" if rec.doi else rec.url
    if style == "apa":
        names = [_apa_name(p) for p in people]
        authors = _join(names[:20], "&") if len(names) <= 20 else ", ".join(names[:19]) + ", … " + names[-1]
        return f"{authors} ({rec.year}). {rec.title}{version} [{kind}]. {rec.publisher}. {link}"
    if style == "harvard":
        names = [_apa_name(p) for p in people]
        authors = _join(names, "and") if len(names) <= 3 else f"{names[0]} et al."
        return f"{authors} ({rec.year}) {rec.title}{version}. {rec.publisher}. Available at: {link}"
    if style == "chicago":
        first = people[0]
        names = [first.name] + [f"{p.given} {p.family}" if p.given and p.family else p.name for p in people[1:]]
        authors = _join(names, "and") if len(names) <= 10 else f"{names[0]} et al."
        return f"{authors}. {rec.year}. “{rec.title}.”{version} {rec.publisher}. {link}."
    raise NotFound(f"no citation style {style!r}; choose apa, harvard or chicago", field="style")
