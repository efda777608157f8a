"""A release's record metadata from its `CITATION.cff` (read and validated with cffconvert, which also converts it
to Zenodo's deposit metadata) or its `.zenodo.json` (that same shape), completed from the release itself."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from portal.i18n import N_
from portal.releases.outcomes import Failed, Refused

SPDX_RE = re.compile(r"^[A-Za-z0-9.+-]+( (AND|OR|WITH) [A-Za-z0-9.+-]+)*$")
ORCID_RE = re.compile(r"([0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{3}[0-9X])$")


def zenodo_from_cff(text: str) -> dict[str, Any]:
    """Zenodo metadata of a `CITATION.cff`; Refused naming the CFF field that is wrong."""
    try:
        from cffconvert import Citation
        from jsonschema.exceptions import ValidationError
    except ImportError as exc:  # pragma: no cover - installed by `make install`
        raise Failed(
            N_("cffconvert is not installed on this portal (make install adds it)"), field="CITATION.cff"
        ) from exc
    try:
        citation = Citation(text)
    except ValueError as exc:  # no or an unknown cff-version
        raise Refused(N_("bad CITATION.cff: {reason}"), reason=str(exc), field="cff-version") from exc
    except Exception as exc:  # YAML that does not parse: ruamel's errors name the line
        raise Refused(
            N_("bad CITATION.cff: not valid YAML ({reason})"), reason=_one_line(exc), field="CITATION.cff"
        ) from exc
    try:
        citation.validate()
    except ValidationError as exc:
        name = _cff_field(exc)
        bad_field = N_("bad CITATION.cff: field {name}: {reason}")
        raise Refused(bad_field, name=name, reason=exc.message, field=name) from exc
    return dict(json.loads(citation.as_zenodo()))


def zenodo_from_json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise Refused(N_("bad .zenodo.json: not JSON ({reason})"), reason=str(exc), field=".zenodo.json") from exc
    if not isinstance(data, dict):
        raise Refused(N_("bad .zenodo.json: not a JSON object"), field=".zenodo.json")
    return data


def record_metadata(
    zenodo: dict[str, Any], *, source: str, repository_url: str, tag: str, release_name: str, release_notes: str
) -> dict[str, Any]:
    """The portal's record JSON (a Software record) for one release. ``source`` (`CITATION.cff` or
    `.zenodo.json`) prefixes the field named when a value cannot be used."""
    title = _str(zenodo.get("title")) or release_name or repository_url.rstrip("/").rsplit("/", 1)[-1]
    md: dict[str, Any] = {
        "title": title,
        "type": {"primary": "Software"},
        "version": _str(zenodo.get("version")) or tag,
        "date_published": _str(zenodo.get("publication_date")) or date.today().isoformat(),
        "source_code_repository": {"url": repository_url},
    }
    authors = []
    for i, creator in enumerate(zenodo.get("creators") or []):
        if not isinstance(creator, dict) or not _str(creator.get("name")):
            no_name = N_("bad {source}: author {num} has no name")
            raise Refused(no_name, source=source, num=i + 1, field=f"{_prefix(source)}authors")
        author = {"name": creator["name"]}
        if _str(creator.get("affiliation")):
            author["affiliation"] = creator["affiliation"]
        orcid = ORCID_RE.search(_str(creator.get("orcid")))
        if orcid:
            author["orcid"] = orcid.group(1)
        authors.append(author)
    if authors:
        md["authors"] = authors
    description = _str(zenodo.get("description")) or release_notes
    if description:
        md["abstract"] = {"description": description}
    keywords = [k for k in zenodo.get("keywords") or [] if isinstance(k, str) and k]
    if keywords:
        md["keywords"] = keywords
    licence = zenodo.get("license")
    spdx = _str(licence.get("id")) if isinstance(licence, dict) else _str(licence)
    if spdx:
        if not SPDX_RE.match(spdx):
            raise Refused(
                N_("bad {source}: license {spdx!r} is not an SPDX identifier"),
                source=source,
                spdx=spdx,
                field=f"{_prefix(source)}license",
            )
        md["license"] = {"attribution": spdx}
    return md


def _prefix(source: str) -> str:
    return "" if source == "CITATION.cff" else f"{source}:"


def _cff_field(exc: Any) -> str:
    """The CFF key a jsonschema error is about: its path, else the missing or unexpected key it names."""
    path = [str(p) for p in exc.absolute_path]
    if exc.validator == "required" and isinstance(exc.instance, dict):
        missing = [k for k in exc.validator_value if k not in exc.instance]
        path += missing[:1]
    elif exc.validator == "additionalProperties":
        found = re.search(r"'([^']+)' (was|were) unexpected", exc.message)
        if found:
            path.append(found.group(1))
    return ".".join(path) or "CITATION.cff"


def _str(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else ""


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]
