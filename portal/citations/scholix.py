"""Scholix link files (JSON, as ScholExplorer serves them: a list of links, or an object whose ``result`` is one;
its v1/v2 capitalised keys or the lower-case ones) read into citations of this portal's records.

A link says ``Source RelationshipType Target``. A record of the portal on either side is cited by the work on the
other side when the relation says so: the work References/Cites the record (isReferencedBy/isCitedBy of the
record), or is supplemented by it (the record isSupplementTo the work); the inverse relations when the record is
the source.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from portal.citations.identifiers import WorkId, parse_work_id
from portal.errors import Invalid
from portal.i18n import N_

# relation of the source to the target -> the target record's relation to the source work
_TARGET_IS = {"references": "isReferencedBy", "cites": "isCitedBy", "issupplementedby": "isSupplementTo"}
# relation of the source record to the target work
_SOURCE_IS = {"isreferencedby": "isReferencedBy", "iscitedby": "isCitedBy", "issupplementto": "isSupplementTo"}


@dataclass(frozen=True)
class Link:
    """One usable link: ``record_ids`` (this portal's side, every identifier given), its ``relation`` to ``work``."""

    position: int
    record_ids: list[WorkId]
    relation: str
    work: WorkId
    title: str | None


def _lower(obj: Any) -> Any:
    """Keys lower-cased at every level (ScholExplorer's APIs spell them differently)."""
    if isinstance(obj, dict):
        return {str(k).lower(): _lower(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_lower(v) for v in obj]
    return obj


def links_of(document: Any) -> list[Any]:
    """The links of a Scholix document, or Invalid when it holds none in a known shape."""
    if isinstance(document, dict):
        for key in ("result", "links"):
            if isinstance(document.get(key), list):
                return list(document[key])
        if any(k.lower() in ("source", "target") for k in document):
            return [document]
    if isinstance(document, list):
        return document
    raise Invalid(
        N_("not a Scholix document: expected a list of links or an object with a `result` list"), field="file"
    )


def read_links(document: Any) -> Iterator[Link | Invalid]:
    """Each link of ``document`` (1-based positions) read, or the Invalid saying why it cannot be used."""
    for position, raw in enumerate(links_of(document), start=1):
        try:
            yield _read(position, _lower(raw))
        except Invalid as err:
            yield Invalid.like(err, source=f"link {position}")


def _read(position: int, link: Any) -> Link:
    if not isinstance(link, dict):
        raise Invalid(N_("a link must be an object"), field="link")
    rel = link.get("relationshiptype") or link.get("relationship") or {}
    given = [str(rel.get(k) or "") for k in ("subtype", "name")] if isinstance(rel, dict) else [str(rel)]
    names = [n.lower() for n in given]
    source, target = link.get("source"), link.get("target")
    if not isinstance(source, dict) or not isinstance(target, dict):
        raise Invalid(N_("a link needs a Source and a Target object"), field="Source")
    for name in names:
        if name in _TARGET_IS:
            return Link(position, _ids(target, "Target"), _TARGET_IS[name], _work(source, "Source"), _title(source))
        if name in _SOURCE_IS:
            return Link(position, _ids(source, "Source"), _SOURCE_IS[name], _work(target, "Target"), _title(target))
    shown = " / ".join(n for n in given if n) or "none"
    raise Invalid(
        N_("relationship {shown} is not a citation (References, Cites, IsSupplementedBy or inverses)"),
        shown=shown,
        field="RelationshipType",
    )


def _identifiers(side: dict[str, Any], name: str) -> list[tuple[str, str]]:
    found = side.get("identifier") or side.get("identifiers") or []
    entries = found if isinstance(found, list) else [found]
    out = []
    for entry in entries:
        if isinstance(entry, dict):
            value = entry.get("id") or entry.get("identifier")
            scheme = entry.get("idscheme") or entry.get("schema") or entry.get("scheme") or ""
            if value:
                out.append((str(scheme).lower(), str(value)))
    if not out:
        raise Invalid(N_("the {name} has no identifier"), name=name, field=f"{name}.Identifier")
    return out


def _ids(side: dict[str, Any], name: str) -> list[WorkId]:
    ids = []
    for scheme, value in _identifiers(side, name):
        known = {"doi": "doi", "arxiv": "arxiv", "inspire": "inspire"}.get(scheme)
        if known:
            try:
                ids.append(parse_work_id(value, known, field=f"{name}.Identifier"))
            except Invalid:
                continue
    if not ids:
        raise Invalid(N_("the {name} has no DOI, arXiv or INSPIRE identifier"), name=name, field=f"{name}.Identifier")
    return ids


def _work(side: dict[str, Any], name: str) -> WorkId:
    return _ids(side, name)[0]


def _title(side: dict[str, Any]) -> str | None:
    title = side.get("title")
    return str(title)[:500] if title else None
