"""Domain errors to HTTP, in one place: RFC 9457 problem+json for the API, friendly pages for browsers."""

from __future__ import annotations

from flask import Flask, Response, json, render_template, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from portal.errors import PortalError

#: seconds a client should wait before retrying a request the database could not serve (and /readyz's)
RETRY_AFTER = "5"


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
        response = _render(err.to_problem(), err.status)
        if err.status == 503 and "Retry-After" not in response.headers:
            response.headers["Retry-After"] = RETRY_AFTER
        return response

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

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_away(err: DBAPIError) -> Response:
        # The database server is down, restarting or unreachable: the request's transaction was rolled back,
        # so the client may retry; pool_pre_ping gives the next request a fresh connection once it is back.
        app.logger.warning("database unavailable on %s: %s", request.path, str(err.orig or err).splitlines()[0])
        problem = {
            "type": "about:blank",
            "title": "Service unavailable",
            "status": 503,
            "detail": "The catalogue database is unavailable for a moment; retry shortly.",
        }
        response = _render(problem, 503)
        response.headers["Retry-After"] = RETRY_AFTER
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
