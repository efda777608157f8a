"""The OpenAPI 3.1 document of the JSON API, served at /api/openapi.json and checked against real responses."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from portal import __version__

bp = Blueprint("openapi", __name__)

_STR = {"type": "string"}
_INT = {"type": "integer"}
_LINKS = {"type": "object", "additionalProperties": {"type": "string"}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


PROBLEM = {
    "description": "Problem details (RFC 9457)",
    "content": {"application/problem+json": {"schema": _ref("Problem")}},
}


def _param(
    name: str, where: str = "query", schema: dict[str, Any] | None = None, required: bool = False, description: str = ""
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema or _STR,
        "description": description,
    }


RECID = _param("recid", "path", _INT, description="Record id (a concept id redirects to its latest version)")

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["title", "status", "detail"],
        "properties": {
            "type": _STR,
            "title": _STR,
            "status": _INT,
            "detail": _STR,
            "field": _STR,
            "source": _STR,
            "record": {"type": ["integer", "string"]},
        },
    },
    "File": {
        "type": "object",
        "required": ["key"],
        "properties": {
            "key": _STR,
            "filename": _STR,
            "uri": _STR,
            "size": _INT,
            "checksum": _STR,
            "type": _STR,
            "description": _STR,
            "availability": _STR,
            "format": _STR,
            "entries": _INT,
            "position": _INT,
        },
    },
    "FileIndex": {
        "type": "object",
        "required": ["key", "number_files", "size"],
        "properties": {
            "key": _STR,
            "description": _STR,
            "uri": _STR,
            "number_files": _INT,
            "size": _INT,
            "links": _LINKS,
            "files": {"type": "array", "items": _ref("File")},
        },
    },
    "RecordMetadata": {
        "type": "object",
        "required": ["recid", "title", "type", "conceptrecid", "versions"],
        "properties": {
            "recid": _STR,
            "title": _STR,
            "doi": _STR,
            "conceptrecid": _STR,
            "conceptdoi": _STR,
            "type": {"type": "object", "required": ["primary"]},
            "files": {"type": "array", "items": _ref("File")},
            "_file_indices": {"type": "array", "items": _ref("FileIndex")},
            "versions": {
                "type": "object",
                "required": ["index", "is_latest"],
                "properties": {"index": _INT, "is_latest": {"type": "boolean"}},
            },
        },
    },
    "Record": {
        "type": "object",
        "required": ["id", "metadata", "links", "created", "updated"],
        "properties": {
            "id": _INT,
            "conceptrecid": _INT,
            "created": _STR,
            "updated": _STR,
            "revision": _INT,
            "status": {"enum": ["draft", "published"]},
            "metadata": _ref("RecordMetadata"),
            "links": _LINKS,
        },
    },
    "RecordList": {
        "type": "object",
        "required": ["hits", "links"],
        "properties": {
            "hits": {
                "type": "object",
                "required": ["total", "hits"],
                "properties": {"total": _INT, "hits": {"type": "array", "items": _ref("Record")}},
            },
            "aggregations": {"type": "object"},
            "links": _LINKS,
        },
    },
    "FilePage": {
        "type": "object",
        "required": ["hits", "page", "size", "links"],
        "properties": {
            "hits": {
                "type": "object",
                "required": ["total", "hits"],
                "properties": {"total": _INT, "hits": {"type": "array", "items": _ref("File")}},
            },
            "page": _INT,
            "size": _INT,
            "links": _LINKS,
        },
    },
    "FileList": {"anyOf": [_ref("FilePage"), _ref("FileSearch")]},  # page/size, or q/cursor
    "FileSearch": {
        "type": "object",
        "required": ["hits", "next_cursor"],
        "properties": {
            "hits": {"type": "object", "properties": {"hits": {"type": "array", "items": _ref("File")}}},
            "next_cursor": {"type": ["integer", "null"]},
            "links": _LINKS,
        },
    },
    "Counts": {
        "type": "object",
        "required": ["events", "unique", "volume"],
        "properties": {"events": _INT, "unique": _INT, "volume": _INT},
    },
    "Stats": {
        "type": "object",
        "required": ["recid", "this_version", "all_versions", "last_aggregated"],
        "properties": {
            "recid": _INT,
            "conceptrecid": _INT,
            "this_version": {"type": "object", "additionalProperties": _ref("Counts")},
            "all_versions": {"type": "object", "additionalProperties": _ref("Counts")},
            "last_aggregated": {"type": ["string", "null"]},
            "also_downloaded": {"type": "array"},
        },
    },
    "Environment": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": _STR,
            "path": _STR,
            "buildpack": _STR,
            "builder": _STR,
            "key": _STR,
            "spec_files": {"type": "array", "items": _STR},
            "spec_hash": _STR,
            "built": {"type": "boolean"},
            "unsupported": {"type": "array", "items": _STR},
            "launch": _STR,
            "error": _STR,
        },
    },
    "Environments": {
        "type": "object",
        "required": ["environments", "builds"],
        "properties": {"environments": {"type": "array", "items": _ref("Environment")}, "builds": _STR},
    },
    "BuildPage": {
        "type": "object",
        "required": ["hits", "page", "size", "links"],
        "properties": {
            "hits": {
                "type": "object",
                "required": ["total", "hits"],
                "properties": {
                    "total": _INT,
                    "hits": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["key", "builder", "source", "spec_hash", "created"],
                            "properties": {
                                "key": _STR,
                                "builder": _STR,
                                "source": _STR,
                                "commit": {"type": ["string", "null"]},
                                "spec_hash": _STR,
                                "created": _STR,
                            },
                        },
                    },
                },
            },
            "page": _INT,
            "size": _INT,
            "links": _LINKS,
        },
    },
    "PackInfo": {
        "type": "object",
        "required": ["files", "size", "content_size", "download"],
        "properties": {"files": _INT, "size": _INT, "content_size": _INT, "download": _STR},
    },
    "Preview": {
        "type": "object",
        "required": ["key", "format", "size", "structure", "columns", "rows"],
        "properties": {
            "key": _STR,
            "format": _STR,
            "size": _INT,
            "structure": {"type": "object"},
            "columns": {"type": "array", "items": _STR},
            "rows": {"type": "array"},
        },
    },
    "Histogram": {
        "type": "object",
        "required": ["column", "edges", "counts", "entries"],
        "properties": {
            "column": _STR,
            "edges": {"type": "array", "items": {"type": "number"}},
            "counts": {"type": "array", "items": _INT},
            "entries": _INT,
            "sampled_rows": _INT,
            "underflow": _INT,
            "overflow": _INT,
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/records": {
        "get": {
            "summary": "Search records (light hits: never file lists)",
            "parameters": [
                _param("q", description='Query, e.g. doi:"10.5072/portal.1"'),
                _param("page", schema=_INT),
                _param("size", schema=_INT),
            ],
            "responses": {"200": _json(_ref("RecordList"), "Matching records"), "400": PROBLEM},
        }
    },
    "/api/records/{recid}": {
        "get": {
            "summary": "A record in the CERN Open Data shape (content negotiation gives exports)",
            "parameters": [
                RECID,
                _param("file_indices", schema={"enum": ["expand", "summary", "none"]}),
                _param("skip_files", schema=_STR),
            ],
            "responses": {
                "200": _json(_ref("Record"), "The record"),
                "302": {"description": "Concept id: latest"},
                "400": PROBLEM,
                "404": PROBLEM,
            },
        }
    },
    "/api/records/{recid}/versions": {
        "get": {
            "summary": "All published versions, newest first",
            "parameters": [RECID],
            "responses": {"200": _json(_ref("RecordList"), "Versions"), "404": PROBLEM},
        },
        "post": {
            "summary": "Start a new version (draft); needs the curator token",
            "parameters": [RECID],
            "security": [{"curator": []}],
            "responses": {"201": _json(_ref("Record"), "The draft"), "403": PROBLEM, "409": PROBLEM},
        },
    },
    "/api/records/{recid}/versions/latest": {
        "get": {
            "summary": "Redirect to the latest version",
            "parameters": [RECID],
            "responses": {"302": {"description": "Location of the latest version"}, "404": PROBLEM},
        }
    },
    "/api/records/{recid}/files": {
        "get": {
            "summary": "A page of direct files or of one file index (constant time for any page); with `q` (glob) "
            "or `cursor` the cursor-paginated listing of `/files/search`",
            "parameters": [
                RECID,
                _param("index"),
                _param("page", schema=_INT),
                _param("size", schema=_INT),
                _param("q"),
                _param("cursor", schema=_INT),
            ],
            "responses": {"200": _json(_ref("FileList"), "Files"), "400": PROBLEM, "404": PROBLEM},
        }
    },
    "/api/records/{recid}/files/search": {
        "get": {
            "summary": "Files by glob with cursor pagination",
            "parameters": [
                RECID,
                _param("q"),
                _param("index"),
                _param("cursor", schema=_INT),
                _param("size", schema=_INT),
            ],
            "responses": {"200": _json(_ref("FileSearch"), "Files"), "400": PROBLEM, "404": PROBLEM},
        }
    },
    "/api/records/{recid}/pack": {
        "get": {
            "summary": "What a zip pack would hold and its exact size",
            "parameters": [RECID, _param("index"), _param("glob"), _param("files")],
            "responses": {"200": _json(_ref("PackInfo"), "Pack"), "400": PROBLEM, "404": PROBLEM},
        }
    },
    "/api/records/{recid}/preview": {
        "get": {
            "summary": "Structure and first rows of a file",
            "parameters": [RECID, _param("key", required=True), _param("rows", schema=_INT)],
            "responses": {"200": _json(_ref("Preview"), "Preview"), "400": PROBLEM, "404": PROBLEM},
        }
    },
    "/api/records/{recid}/histogram": {
        "get": {
            "summary": "Histogram of a numeric column (JSON; PNG or SVG with format=)",
            "parameters": [
                RECID,
                _param("key", required=True),
                _param("column", required=True),
                _param("bins", schema=_INT),
                _param("range"),
                _param("format"),
            ],
            "responses": {"200": _json(_ref("Histogram"), "Histogram"), "400": PROBLEM, "404": PROBLEM},
        }
    },
    "/api/environments": {
        "get": {
            "summary": "The analysis environments (analysis_envs/): buildpack, spec, build key, built or not",
            "responses": {"200": _json(_ref("Environments"), "Environments")},
        }
    },
    "/api/environments/builds": {
        "get": {
            "summary": "Finished environment builds, newest first",
            "parameters": [_param("page", schema=_INT), _param("size", schema=_INT)],
            "responses": {"200": _json(_ref("BuildPage"), "Builds"), "400": PROBLEM},
        }
    },
    "/api/stats": {
        "get": {
            "summary": "Usage of a record version and of all its versions",
            "parameters": [_param("recid", schema=_INT, required=True)],
            "responses": {"200": _json(_ref("Stats"), "Statistics"), "400": PROBLEM, "404": PROBLEM},
        }
    },
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Open Experiment Data portal API",
            "version": __version__,
            "description": "Records, versions, files, previews, exports and usage statistics.",
        },
        "paths": PATHS,
        "components": {"schemas": SCHEMAS, "securitySchemes": {"curator": {"type": "http", "scheme": "bearer"}}},
    }


@bp.get("/api/openapi.json")
def openapi() -> Any:
    return jsonify(document())
