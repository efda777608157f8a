"""Who cites a record: the JSON API (`/api/records/<recid>/citations`) and the record page's small form that adds
a citing work. Permissions come from the policy, inside the citation service."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, redirect, request, url_for

from portal.citations.service import CitationService
from portal.errors import Invalid
from portal.i18n import N_
from portal.web import services
from portal.web.auth import principal
from portal.web.i18n import translate_message
from portal.web.pages import record_page

bp = Blueprint("citations", __name__)


def _citations() -> CitationService:
    return services().citations


@bp.get("/api/records/<int:recid>/citations")
def list_citations(recid: int) -> Any:
    services().access.require_record(principal(), recid)
    return jsonify(_citations().of_record(recid).to_json())


@bp.post("/api/records/<int:recid>/citations")
def add_citation(recid: int) -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid(N_("body must be a JSON object with `relation` and `identifier`"), field="identifier")
    for name in ("relation", "identifier", "scheme", "title"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise Invalid(N_("{name} must be a string"), name=name, field=name)
    citation = _citations().add(
        recid,
        body.get("relation") or "",
        body.get("identifier") or "",
        scheme=body.get("scheme") or None,
        title=body.get("title"),
        actor=principal(),
    )
    return jsonify(citation.to_json()), 201


@bp.delete("/api/records/<int:recid>/citations/<int:citation_id>")
def remove_citation(recid: int, citation_id: int) -> Any:
    _citations().remove(recid, citation_id, actor=principal())
    return "", 204


@bp.post("/record/<int:recid>/citations")
def add_citation_form(recid: int) -> Any:
    form = request.form
    try:
        _citations().add(
            recid,
            form.get("relation", ""),
            form.get("identifier", ""),
            scheme=form.get("scheme") or None,
            title=form.get("title"),
            actor=principal(),
        )
    except Invalid as err:
        # A typo in the identifier comes back on the record page, the message next to its field and what was typed
        # kept (400, nothing added); a JSON client still gets problem+json from the API route above.
        cite_form = {
            "values": {name: form.get(name, "") for name in ("relation", "identifier", "title")},
            "field": err.field if err.field in ("relation", "identifier", "title") else "identifier",
            "error": err.localized_detail(translate_message),
        }
        return record_page(recid, status=400, cite_form=cite_form)
    return redirect(url_for("pages.record", recid=recid) + "#cited-h", code=303)
