"""Operations endpoints and the per-request bookkeeping they rely on: `/healthz` (the process answers),
`/readyz` (its database, storage and search can serve: 503 naming what cannot), `/metrics` (Prometheus),
and a request id on every request and response."""

from __future__ import annotations

import re
import time
import uuid

from flask import Blueprint, Flask, Response, g, jsonify, request

from portal.ops import metrics
from portal.ops.health import readiness
from portal.web import services
from portal.web.problems import RETRY_AFTER

bp = Blueprint("ops", __name__)

#: a client's or proxy's X-Request-ID is kept when it is a plain token, so the id follows the request across
#: services; anything else (too long, odd characters that could forge log lines) is replaced
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the process is up and answering; it checks nothing else, so a slow database does not get
    healthy processes restarted."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Response:
    state = readiness(services())
    body: dict[str, object] = {
        "status": "ready" if state.ready else "unavailable",
        "checks": {c.name: {"ok": c.ok, "detail": c.detail, "seconds": c.seconds} for c in state.checks},
    }
    if state.ready:
        return jsonify(body)
    body.update(type="about:blank", title="Service unavailable", status=503, detail="; ".join(state.reasons))
    response = jsonify(body)
    response.status_code = 503
    response.mimetype = "application/problem+json"
    response.headers["Retry-After"] = RETRY_AFTER
    return response


@bp.get("/metrics")
def prometheus() -> Response:
    analyses, queue = services().analyses, services().queue
    counts = analyses.count_by_state() if analyses is not None else {}
    queued = queue.counts() if queue is not None else {}
    fixity = services().preservation.fixity.latest()
    return Response(metrics.exposition(counts, queued, fixity), mimetype=metrics.CONTENT_TYPE)


def register(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        # The route's rule, not the URL: one series per route however many records there are.
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        if route not in ("/metrics", "/healthz", "/readyz"):
            metrics.REQUESTS.labels(route, request.method, str(response.status_code)).inc()
            started = g.get("request_started")
            if started is not None:
                metrics.LATENCY.labels(route).observe(time.perf_counter() - started)
        return response
