"""DataCite metadata (kernel 4.5): the JSON of DataCite's REST API, and XML through the `datacite` package."""

from __future__ import annotations

from typing import Any

from portal.exports.common import ExportRecord


def datacite_json(rec: ExportRecord) -> dict[str, Any]:
    creators = []
    for p in rec.creators:
        creator: dict[str, Any] = {"name": p.name, "nameType": "Organizational" if p.organisation else "Personal"}
        if p.given and p.family:
            creator.update(givenName=p.given, familyName=p.family)
        if p.orcid:
            creator["nameIdentifiers"] = [
                {
                    "nameIdentifier": f"https://orcid.org/{p.orcid}",
                    "nameIdentifierScheme": "ORCID",
                    "schemeUri": "https://orcid.org",
                }
            ]
        if p.affiliation:
            # CERN author lists repeat an institute within one author's affiliations; DataCite wants each once.
            names = dict.fromkeys(a.strip() for a in p.affiliation.split(";") if a.strip())
            creator["affiliation"] = [{"name": name} for name in names]
        creators.append(creator)
    data: dict[str, Any] = {
        "doi": rec.doi,
        "alternateIdentifiers": [{"alternateIdentifier": rec.url, "alternateIdentifierType": "URL"}],
        "creators": creators,
        "titles": [{"title": rec.title}],
        "publisher": {"name": rec.publisher},
        "publicationYear": rec.year,
        "types": {
            "resourceTypeGeneral": rec.rtype.datacite,
            "resourceType": f"{rec.rtype.primary}/{rec.subtype}" if rec.subtype else rec.rtype.primary,
        },
        "url": rec.url,
        "schemaVersion": "http://datacite.org/schema/kernel-4",
    }
    if rec.md.get("title_additional"):
        data["titles"].append({"title": rec.md["title_additional"], "titleType": "AlternativeTitle"})
    subjects = [{"subject": k} for k in rec.keywords]
    subjects += [{"subject": e, "subjectScheme": "experiment"} for e in rec.md.get("experiment") or []]
    if subjects:
        data["subjects"] = subjects
    dates = [{"date": str(rec.md["date_published"]), "dateType": "Issued"}]
    dates += [
        {"date": str(d)[:4], "dateType": "Collected"} for d in rec.md.get("date_created") or [] if str(d)[:4].isdigit()
    ]
    data["dates"] = dates
    if rec.md.get("language"):
        data["language"] = rec.md["language"][:3]
    if rec.related:
        data["relatedIdentifiers"] = [
            {"relatedIdentifier": r.identifier, "relatedIdentifierType": r.scheme, "relationType": r.datacite_relation}
            for r in rec.related
        ]
    distribution = rec.md.get("distribution") or {}
    sizes = []
    if distribution.get("size") is not None:
        sizes.append(f"{distribution['size']} bytes")
    if distribution.get("number_files") is not None:
        sizes.append(f"{distribution['number_files']} files")
    if distribution.get("number_events") is not None:
        sizes.append(f"{distribution['number_events']} events")
    if sizes:
        data["sizes"] = sizes
    if distribution.get("formats"):
        data["formats"] = [str(f) for f in distribution["formats"]]
    if rec.version_label:
        data["version"] = rec.version_label
    if rec.license_id:
        data["rightsList"] = [
            {
                "rights": rec.license_id,
                "rightsUri": rec.license_url,
                "rightsIdentifier": rec.license_id,
                "rightsIdentifierScheme": "SPDX",
                "schemeUri": "https://spdx.org/licenses/",
            }
        ]
    descriptions = []
    if rec.description:
        descriptions.append({"description": rec.description, "descriptionType": "Abstract"})
    methods = (rec.md.get("methodology") or {}).get("description")
    if methods:
        from portal.exports.common import plain_text

        descriptions.append({"description": plain_text(methods), "descriptionType": "Methods"})
    if descriptions:
        data["descriptions"] = descriptions
    return data


def concept_datacite_json(rec: ExportRecord, version_dois: list[str]) -> dict[str, Any]:
    """The concept ("all versions") DOI's metadata: the latest version's, with HasVersion each version."""
    data = datacite_json(rec)
    data["doi"] = rec.concept_doi
    data["relatedIdentifiers"] = [r for r in data.get("relatedIdentifiers", []) if r["relationType"] != "IsVersionOf"]
    data["relatedIdentifiers"] += [
        {"relatedIdentifier": d, "relatedIdentifierType": "DOI", "relationType": "HasVersion"} for d in version_dois
    ]
    data.pop("version", None)
    return data


# `datacite` is imported where it is used: it imports idutils, whose tables take ~0.4 s to build, a cost that
# processes not exporting DataCite XML (web workers at start, the CLI) should not pay.
def datacite_xml(rec: ExportRecord) -> str:
    from datacite import schema45

    return str(schema45.tostring(datacite_json(rec)))


def datacite_json_valid(data: dict[str, Any]) -> bool:
    from datacite import schema45

    return bool(schema45.validate(data))
