"""Domain errors to HTTP, in one place: RFC 9457 problem+json for the API, friendly pages for browsers.

Titles and details are shown in the reader's language (portal.web.i18n): domain errors carry their English
message ids, translated here, at the boundary.
"""

from __future__ import annotations

from flask import Flask, Response, json, render_template, request
from flask_babel import gettext
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from portal.errors import PortalError
from portal.i18n import N_
from portal.web.i18n import translate_message

# werkzeug's names for the statuses the portal answers, as msgids, and a short detail for when the exception
# carries werkzeug's default description (a view's own description is kept as it is).
HTTP_PROBLEMS = {
    400: (N_("Bad Request"), N_("The request could not be understood.")),
    401: (N_("Unauthorized"), N_("Sign in, or send a personal access token.")),
    403: (N_("Forbidden"), N_("You may not do this.")),
    404: (N_("Not Found"), N_("There is nothing at this address.")),
    405: (N_("Method Not Allowed"), N_("This address does not accept this method.")),
    406: (N_("Not Acceptable"), N_("This address cannot answer in any of the formats the request accepts.")),
    409: (N_("Conflict"), N_("The request conflicts with the current state of the resource.")),
    410: (N_("Gone"), N_("What was here has been removed.")),
    413: (N_("Request Entity Too Large"), N_("The request is larger than the portal accepts.")),
    415: (N_("Unsupported Media Type"), N_("The request's content type is not accepted here.")),
    416: (N_("Range Not Satisfiable"), N_("The requested range is outside the file.")),
    429: (N_("Too Many Requests"), N_("Too many requests: wait a little and try again.")),
    500: (N_("Internal Server Error"), N_("The portal hit an unexpected error; it has been logged.")),
    503: (N_("Service Unavailable"), N_("The service is unavailable at the moment; try again later.")),
}

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


def http_problem(err: HTTPException) -> dict[str, object]:
    status = err.code or 500
    title, default_detail = HTTP_PROBLEMS.get(status, (err.name, err.description or err.name))
    own = err.description and err.description != type(err).description
    detail = err.description if own else default_detail
    return {"type": "about:blank", "title": gettext(title), "status": status, "detail": gettext(detail or title)}


def register(app: Flask) -> None:
    @app.errorhandler(PortalError)
    def _domain(err: PortalError) -> Response:
        response = _render(err.to_problem(translate_message), err.status)
        if err.status == 503 and "Retry-After" not in response.headers:
            response.headers["Retry-After"] = RETRY_AFTER
        return response

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response:
        response = _render(http_problem(err), err.code or 500)
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
            "title": gettext("Internal error"),
            "status": 500,
            "detail": gettext("The portal hit an unexpected error; it has been logged."),
        }
        return _render(problem, 500)
