"""Domain errors to HTTP, in one place: RFC 9457 problem+json for the API, friendly pages for browsers."""

from __future__ import annotations

from flask import Flask, Response, json, render_template, request
from werkzeug.exceptions import HTTPException

from portal.errors import PortalError


def _wants_json() -> bool:
    if request.path.startswith(("/api/", "/oai2d", "/oauth/token", "/oauth/userinfo")):  # machine clients
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json", "application/problem+json"])
    return best in ("application/json", "application/problem+json")


def problem_response(problem: dict[str, object], status: int) -> Response:
    return Response(json.dumps(problem), status=status, mimetype="application/problem+json")


def _render(problem: dict[str, object], status: int) -> Response:
    if _wants_json():
        return problem_response(problem, status)
    html = render_template("error.html", problem=problem, status=status)
    return Response(html, status=status, mimetype="text/html")


def register(app: Flask) -> None:
    @app.errorhandler(PortalError)
    def _domain(err: PortalError) -> Response:
        return _render(err.to_problem(), err.status)

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response:
        status = err.code or 500
        problem = {"type": "about:blank", "title": err.name, "status": status, "detail": err.description or err.name}
        response = _render(problem, status)
        # Keep the protocol headers the exception carries (Allow on 405, Content-Range on 416, ...).
        for name, value in err.get_response().headers.items():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _crash(err: Exception) -> Response:
        app.logger.exception("unhandled error on %s", request.path)
        problem = {
            "type": "about:blank",
            "title": "Internal error",
            "status": 500,
            "detail": "The portal hit an unexpected error; it has been logged.",
        }
        return _render(problem, 500)
