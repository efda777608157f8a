"""Usage statistics on the web: recording record-page views, `/api/stats`, and the record-page box."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from portal.errors import Invalid
from portal.i18n import N_
from portal.stats.service import RecordStats
from portal.web import services
from portal.web.request import client_ip, int_arg

bp = Blueprint("stats", __name__)


def stats_json(stats: RecordStats) -> dict[str, Any]:
    return {
        "recid": stats.recid,
        "conceptrecid": stats.concept_recid,
        "this_version": {kind: c.as_dict() for kind, c in stats.version.items()},
        "all_versions": {kind: c.as_dict() for kind, c in stats.all_versions.items()},
        "last_aggregated": stats.last_aggregated.isoformat().replace("+00:00", "Z") if stats.last_aggregated else None,
    }


@bp.after_app_request
def _count_record_views(response: Response) -> Response:
    # Counted after the page rendered, as a queued event: a view never waits for the statistics.
    if request.endpoint == "pages.record" and response.status_code == 200 and request.method == "GET":
        recid = (request.view_args or {}).get("recid")
        if recid is not None:
            services().stats.record("view", int(recid), ip=client_ip(), user_agent=request.user_agent.string)
    return response


@bp.get("/api/stats")
def api_stats() -> Any:
    """`/api/stats?recid=N`: views, downloads and launches of this version and of all its versions."""
    if "recid" not in request.args:
        raise Invalid(N_("give the record with ?recid=N"), field="recid")
    recid = int_arg("recid", 0, minimum=1)
    stats = services().stats
    body = stats_json(stats.record_stats(recid))
    body["also_downloaded"] = [{"conceptrecid": r, "visitors": n} for r, n in stats.also_downloaded(recid)]
    return jsonify(body)


@bp.app_context_processor
def _stats_helpers() -> dict[str, Any]:
    def record_stats(recid: int) -> RecordStats:
        return services().stats.record_stats(recid)

    def also_downloaded(recid: int) -> list[tuple[int, int]]:
        return services().stats.also_downloaded(recid)

    return {"record_stats": record_stats, "also_downloaded": also_downloaded}
