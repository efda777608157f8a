"""schema.org JSON-LD (Dataset, SoftwareSourceCode, LearningResource, …) for search engines and harvesters."""

from __future__ import annotations

from typing import Any

from portal.exports.common import ExportRecord, Related


def jsonld(rec: ExportRecord) -> dict[str, Any]:
    creators = []
    for p in rec.creators:
        person: dict[str, Any] = {"@type": "Organization" if p.organisation else "Person", "name": p.name}
        if p.given and p.family:
            person.update(givenName=p.given, familyName=p.family)
        if p.orcid:
            person["@id"] = f"https://orcid.org/{p.orcid}"
        if p.affiliation:
            person["affiliation"] = {"@type": "Organization", "name": p.affiliation}
        creators.append(person)
    doc: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": rec.rtype.schema_org,
        "@id": f"https://doi.org/{rec.doi}" if rec.doi else rec.url,
        "name": rec.title,
        "url": rec.url,
        "creator": creators,
        "datePublished": str(rec.md["date_published"]),
        "publisher": {"@type": "Organization", "name": rec.publisher},
        "isAccessibleForFree": True,
    }
    if rec.doi:
        doc["identifier"] = {
            "@type": "PropertyValue",
            "propertyID": "DOI",
            "value": rec.doi,
            "url": f"https://doi.org/{rec.doi}",
        }
    if rec.description:
        doc["description"] = rec.description
    if rec.keywords:
        doc["keywords"] = rec.keywords
    if rec.license_url:
        doc["license"] = rec.license_url
    if rec.version_label:
        doc["version"] = rec.version_label
    if rec.concept_doi and rec.concept_doi != rec.doi:
        doc["isPartOf"] = {"@id": f"https://doi.org/{rec.concept_doi}"}
    if rec.md.get("date_created"):
        doc["temporalCoverage"] = "/".join(str(d)[:4] for d in (rec.md["date_created"][0], rec.md["date_created"][-1]))
    if rec.md.get("experiment"):
        doc["producer"] = [{"@type": "Organization", "name": e} for e in rec.md["experiment"]]
    dist = rec.md.get("distribution") or {}
    files = [f for f in rec.view.files if f.get("type") not in ("index.json", "index.txt")][:50]
    if rec.rtype.schema_org == "Dataset" and files:
        base = rec.base_url.rstrip("/")
        doc["distribution"] = [
            {
                "@type": "DataDownload",
                "name": f["key"],
                "contentUrl": f"{base}/record/{rec.recid}/files/{f['key']}",
                "encodingFormat": f.get("format") or f.get("type") or "application/octet-stream",
                **({"contentSize": f"{f['size']} B"} if f.get("size") is not None else {}),
            }
            for f in files
        ]
    if dist.get("size") is not None:
        doc["size"] = f"{dist['size']} B"
    if rec.md.get("source_code_repository", {}).get("url"):
        doc["codeRepository"] = rec.md["source_code_repository"]["url"]
    # Works that cite or reference the record are about it (subjectOf); the publication a dataset supplements is
    # what its publisher asks to be cited with it (schema.org's `citation`, as Google's dataset guide reads it).
    citing = [_work(r) for r in rec.related if r.relation in ("isCitedBy", "isReferencedBy")]
    if citing:
        doc["subjectOf"] = citing
    supplemented = [_work(r) for r in rec.related if r.relation == "isSupplementTo"]
    if supplemented:
        doc["citation"] = supplemented
    return doc


def _work(related: Related) -> dict[str, Any]:
    url = related.identifier
    if related.scheme == "DOI":
        url = f"https://doi.org/{related.identifier}"
    elif related.scheme == "arXiv":
        url = f"https://arxiv.org/abs/{related.identifier.removeprefix('arXiv:')}"
    return {"@type": "CreativeWork", "@id": url, "url": url}
