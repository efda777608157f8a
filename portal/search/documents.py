"""What the search index holds for a record: text fields, sort keys and facet values, from its metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from portal.exports.common import plain_text

EVENT_BUCKETS = (
    (1_000, "0–999"),
    (10_000, "1k–9,999"),
    (100_000, "10k–99,999"),
    (1_000_000, "100k–999,999"),
    (10_000_000, "1M–9,999,999"),
)
FACETS = (
    "type",
    "subtype",
    "experiment",
    "year",
    "format",
    "collision_energy",
    "collision_type",
    "category",
    "keywords",
    "events",
    "availability",
    "collection",
)


def event_bucket(n: int) -> str:
    for limit, label in EVENT_BUCKETS:
        if n < limit:
            return label
    return "≥10M"


@dataclass
class SearchDocument:
    recid: int
    concept_recid: int
    title: str
    authors: str
    keywords: str
    body: str
    doi: str | None
    date_published: str
    year: int | None
    number_events: int | None
    facets: set[tuple[str, str]] = field(default_factory=set)


def build_document(
    recid: int, concept_recid: int, doi: str | None, md: dict[str, Any], formats: list[str] | None = None
) -> SearchDocument:
    facets: set[tuple[str, str]] = set()
    rtype = md.get("type") or {}
    facets.add(("type", rtype.get("primary", "")))
    for sub in rtype.get("secondary") or []:
        facets.add(("subtype", f"{rtype.get('primary')}/{sub}"))
    for exp in md.get("experiment") or []:
        facets.add(("experiment", str(exp)))
    years = [str(d)[:4] for d in md.get("date_created") or [] if str(d)[:4].isdigit()]
    for y in years:
        facets.add(("year", y))
    distribution = md.get("distribution") or {}
    for fmt in [*(distribution.get("formats") or []), *(formats or [])]:
        facets.add(("format", str(fmt).lower()))
    collision = md.get("collision_information") or {}
    if collision.get("energy"):
        facets.add(("collision_energy", str(collision["energy"])))
    if collision.get("type"):
        facets.add(("collision_type", str(collision["type"])))
    categories = md.get("categories") or {}
    if categories.get("primary"):
        facets.add(("category", str(categories["primary"])))
    for kw in md.get("keywords") or []:
        facets.add(("keywords", str(kw)[:255]))
    events = distribution.get("number_events")
    if isinstance(events, int):
        facets.add(("events", event_bucket(events)))
    facets.add(("availability", str(distribution.get("availability") or md.get("availability") or "online")))
    for name in md.get("collections") or []:  # a portal collection's slug (CERN Open Data's own names too)
        facets.add(("collection", str(name)))
    for rel in md.get("relations") or []:
        if rel.get("recid"):
            facets.add(("related", str(rel["recid"])))
    facets = {(f, v[:255]) for f, v in facets if v}
    authors = "; ".join(str(a.get("name", "")) for a in md.get("authors") or [])
    collaboration = (md.get("collaboration") or {}).get("name") or ""
    body_parts = [plain_text((md.get(k) or {}).get("description")) for k in ("abstract", "methodology", "usage")]
    body_parts += [
        str(md.get("title_additional") or ""),
        collaboration,
        " ".join(md.get("experiment") or []),
        " ".join(md.get("run_period") or []),
        rtype.get("primary", ""),
        " ".join(rtype.get("secondary") or []),
        " ".join(str(f) for f in distribution.get("formats") or []),
        md.get("accelerator") or "",
    ]
    year = (
        int(years[0])
        if years
        else (int(str(md["date_published"])[:4]) if str(md.get("date_published", ""))[:4].isdigit() else None)
    )
    return SearchDocument(
        recid=recid,
        concept_recid=concept_recid,
        title=str(md["title"]),
        authors=authors,
        keywords=" ".join(str(k) for k in md.get("keywords") or []),
        body=" ".join(p for p in body_parts if p),
        doi=(doi or "").lower() or None,
        date_published=str(md.get("date_published", ""))[:10],
        year=year,
        number_events=events if isinstance(events, int) else None,
        facets=facets,
    )
