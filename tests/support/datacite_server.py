"""A local stand-in for DataCite's REST API (https://support.datacite.org/reference/dois-2), a real HTTP server
on 127.0.0.1 in a thread, for functional tests of the `datacite` PID provider.

It answers as the API does for what the provider uses: ``POST /dois`` (201), ``PUT /dois/{doi}`` (200),
``GET /dois/{doi}`` (200, 404), ``DELETE /dois/{doi}`` (204, drafts only), with JSON:API bodies, HTTP Basic
credentials of one repository, its prefix, and the DOI states draft -> findable/registered (events ``publish``,
``register``, ``hide``). Each request's attributes are checked against DataCite's JSON schema (kernel 4.5, as the
`datacite` package ships it): in full when the DOI is or becomes findable or registered, and the attributes sent
for a draft; a refusal is a 422 whose errors name the attribute (``source``), as DataCite's do. Like DataCite, it
refuses a URL outside the repository's domains. ``fail(n)`` makes the next ``n`` requests fail (503).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

#: attributes the API adds to a DOI; never part of what is checked against the metadata schema
SERVER_ATTRIBUTES = {"state", "created", "updated", "registered", "published", "isActive"}
#: attributes of a request that steer the API rather than describe the resource
CONTROL_ATTRIBUTES = {"event"}


def schema_errors(attributes: dict[str, Any], *, complete: bool) -> list[dict[str, str]]:
    """DataCite's refusals of ``attributes``: each ``{"source": attribute, "title": why}``; ``complete``: the
    schema's required properties must be there too (a findable DOI), else only what is given is checked."""
    from datacite.schema45 import validator

    errors = []
    for error in sorted(validator.iter_errors(attributes), key=lambda e: list(e.absolute_path)):
        if error.validator == "required":
            if not complete:  # a draft may lack anything
                continue
            missing = [p for p in error.validator_value if p not in error.instance]
            source = ".".join([*map(str, error.absolute_path), *missing[:1]])
            errors.append({"source": source, "title": "can't be blank"})
            continue
        path = [str(p) for p in error.absolute_path]
        errors.append({"source": path[0] if path else "data", "title": error.message[:200]})
    return errors


@dataclass
class DataCiteStandIn:
    """The stand-in's state: one repository (``username``/``password``, ``prefix``, ``domains``: the hosts its
    URLs may point at, "*" any) and its DOIs (``dois``: attributes by lower-cased DOI, with ``state``)."""

    username: str = "TEST.PORTAL"
    password: str = "stand-in-password"
    prefix: str = "10.5072"
    domains: str = "*"
    dois: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    failures_left: int = 0
    failure_status: int = 503
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, times: int, status: int = 503) -> None:
        """Answer the next ``times`` requests with ``status`` (an outage), whatever they ask."""
        with self._lock:
            self.failures_left, self.failure_status = times, status

    def state(self, doi: str) -> str | None:
        found = self.dois.get(doi.lower())
        return found["state"] if found else None

    # -- the API -----------------------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[int, dict[str, Any] | None]:
        with self._lock:
            self.requests.append((method, path, body))
            if self.failures_left > 0:
                self.failures_left -= 1
                return self.failure_status, {"errors": [{"status": str(self.failure_status), "title": "Unavailable"}]}
            parts = [unquote(p) for p in path.strip("/").split("/", 1)]
            if parts[0] != "dois":
                return 404, _error(404, "The resource you are looking for doesn't exist.")
            doi = parts[1].lower() if len(parts) > 1 else None
            if method == "GET" and doi:
                found = self.dois.get(doi)
                return (
                    (200, self._document(doi))
                    if found
                    else (404, _error(404, "The resource you are looking for doesn't exist."))
                )
            if method == "DELETE" and doi:
                found = self.dois.get(doi)
                if not found:
                    return 404, _error(404, "The resource you are looking for doesn't exist.")
                if found["state"] != "draft":
                    return 405, _error(405, "Method not allowed: only draft DOIs can be deleted.")
                del self.dois[doi]
                return 204, None
            if method in ("POST", "PUT"):
                return self._write(method, doi, body)
            return 405, _error(405, "Method not allowed")

    def _write(self, method: str, doi: str | None, body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        data = (body or {}).get("data")
        if not isinstance(data, dict) or not isinstance(data.get("attributes"), dict):
            return 400, _error(400, "You need to provide a payload following the JSONAPI spec")
        if data.get("type", "dois") != "dois":
            return 400, _error(400, "The type of the resource must be dois")
        attributes = dict(data["attributes"])
        given_doi = str(attributes.get("doi") or "").lower() or None
        if method == "POST":
            if given_doi is None:
                return 422, {"errors": [{"source": "doi", "title": "can't be blank"}]}
            doi = given_doi
            if doi in self.dois:
                return 422, {"errors": [{"source": "doi", "title": "This DOI has already been taken"}]}
        assert doi is not None
        if given_doi is not None and given_doi != doi:
            return 422, {"errors": [{"source": "doi", "title": "does not match the DOI of the URL"}]}
        if not doi.startswith(self.prefix + "/"):
            return 403, _error(403, f"You are not authorized to use the prefix of {doi}")
        current = self.dois.get(doi)
        state = current["state"] if current else "draft"
        event = attributes.pop("event", None)
        target = {"publish": "findable", "register": "registered", "hide": "registered", None: state}.get(event)
        if target is None:
            return 422, {"errors": [{"source": "event", "title": f"{event!r} is not an event"}]}
        if event == "register" and state == "findable":
            return 422, {"errors": [{"source": "event", "title": "a findable DOI cannot go back to registered"}]}
        merged = {k: v for k, v in (current or {}).items() if k not in SERVER_ATTRIBUTES}
        merged.update({k: v for k, v in attributes.items() if k != "prefix"})
        merged["doi"] = doi
        errors = schema_errors(merged if target != "draft" else {**attributes, "doi": doi}, complete=target != "draft")
        if target != "draft" and not merged.get("url"):
            errors.append({"source": "url", "title": "can't be blank"})
        url = merged.get("url")
        if url and self.domains != "*":
            host = urlsplit(str(url)).hostname or ""
            if host not in [d.strip() for d in self.domains.split(",")]:
                errors.append({"source": "url", "title": "URL is not allowed by repository domain settings."})
        if errors:
            return 422, {"errors": [{**e, "uid": doi} for e in errors]}
        self.dois[doi] = {**merged, "state": target}
        return (201 if current is None else 200), self._document(doi)

    def _document(self, doi: str) -> dict[str, Any]:
        return {"data": {"id": doi, "type": "dois", "attributes": dict(self.dois[doi])}}

    # -- serving -----------------------------------------------------------------------------------------------------
    @contextmanager
    def serving(self) -> Iterator[DataCiteStandIn]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                expected = base64.b64encode(f"{standin.username}:{standin.password}".encode()).decode()
                if self.headers.get("Authorization", "") != f"Basic {expected}":
                    self._send(401, _error(401, "Bad credentials."))
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = None
                if length:
                    try:
                        body = json.loads(self.rfile.read(length))
                    except ValueError:
                        self._send(400, _error(400, "The request body is not JSON"))
                        return
                status, answer = standin.handle(method, urlsplit(self.path).path, body)
                self._send(status, answer)

            def _send(self, status: int, answer: dict[str, Any] | None) -> None:
                payload = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.api+json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def do_PUT(self) -> None:
                self._answer("PUT")

            def do_DELETE(self) -> None:
                self._answer("DELETE")

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}/"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


def _error(status: int, title: str) -> dict[str, Any]:
    return {"errors": [{"status": str(status), "title": title}]}
