"""The OpenAPI 3.1 document of the JSON API, served at /api/openapi.json and checked against real responses."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, jsonify

from portal import __version__
from portal.identity.principal import SCOPES
from portal.search.documents import FACETS
from portal.search.results import SORTS
from portal.web import services
from portal.web.openapi_deposit import DEPOSIT_PATHS, DEPOSIT_SCHEMAS
from portal.web.openapi_jobs import JOBS_PATHS, JOBS_SCHEMAS
from portal.web.schemas import (
    CURSOR,
    ID,
    JOB_ID,
    PAGE,
    PROBLEM,
    RATE_LIMITED,
    RECID,
    SCHEMAS,
    SIZE,
    STR,
    UNEXPECTED,
    json_response,
    param,
    ref,
)

bp = Blueprint("openapi", __name__)
REPOSITORY_ID = param("repository_id", "path", ID, description="Connected repository id")
BINARY = {"type": "string", "format": "binary"}

PATHS: dict[str, Any] = {
    "/api/records": {
        "get": {
            "summary": "Search records (light hits: never file lists)",
            "parameters": [
                param("q", description='Query, e.g. doi:"10.5072/portal.1"'),
                param("page", schema=PAGE),
                param("size", schema=SIZE),
                param("sort", schema={"enum": list(SORTS)}),
                param("cursor", description="The cursor of a `next` link: search-after, no result-window limit"),
                param("all_versions", description="1, true or yes: every version, not only the latest"),
                *(param(f, schema={"type": "array", "items": STR}, description="Facet filter") for f in FACETS),
            ],
            "responses": {
                "200": json_response(ref("RecordList"), "Matching records"),
                "400": PROBLEM,
                "429": RATE_LIMITED,
                "503": PROBLEM,
            },
        }
    },
    "/api/records/{recid}": {
        "get": {
            "summary": "A record in the CERN Open Data shape (content negotiation gives exports)",
            "parameters": [
                RECID,
                param("file_indices", schema={"enum": ["expand", "summary", "none"]}),
                param("skip_files", schema=STR),
            ],
            "responses": {
                "200": json_response(ref("Record"), "The record"),
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
            "responses": {"200": json_response(ref("RecordList"), "Versions"), "404": PROBLEM},
        },
    },
    "/api/records/{recid}/citations": {
        "get": {
            "summary": "Who cites the record (all versions): external works and the count with the portal's records",
            "parameters": [RECID],
            "responses": {"200": json_response(ref("CitedBy"), "Citations"), "404": PROBLEM},
        },
        "post": {
            "summary": "Add an external work citing the record (DOI, arXiv or INSPIRE); its owners or a curator",
            "parameters": [RECID],
            "security": [{"token": ["deposit:write"]}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("CitationRequest")}}},
            "responses": {
                "201": json_response(ref("Citation"), "The citation"),
                "400": PROBLEM,
                "401": PROBLEM,
                "403": PROBLEM,
                "404": PROBLEM,
            },
        },
    },
    "/api/records/{recid}/citations/{citation_id}": {
        "delete": {
            "summary": "Remove a citation of the record; its owners or a curator",
            "parameters": [RECID, param("citation_id", "path", ID, description="Citation id")],
            "security": [{"token": ["deposit:write"]}],
            "responses": {"204": {"description": "Removed"}, "401": PROBLEM, "403": PROBLEM, "404": PROBLEM},
        }
    },
    "/api/records/{recid}/versions/latest": {
        "get": {
            "summary": "Redirect to the latest version",
            "parameters": [RECID],
            "responses": {"302": {"description": "Location of the latest version"}, "404": PROBLEM},
        }
    },
    "/api/records/{recid}/citation": {
        "post": {
            "summary": "The record formatted in the CSL 1.0 style sent (the body, or a multipart `style` file); "
            "the style is checked against the CSL schema first",
            "parameters": [RECID],
            "requestBody": {
                "required": True,
                "content": {
                    "application/vnd.citationstyles.style+xml": {"schema": STR},
                    "multipart/form-data": {"schema": {"type": "object", "properties": {"style": BINARY}}},
                },
            },
            "responses": {
                "200": json_response(ref("StyledCitation"), "The formatted reference"),
                "400": PROBLEM,
                "404": PROBLEM,
            },
        }
    },
    "/api/records/{recid}/files": {
        "get": {
            "summary": "A page of direct files or of one file index (constant time for any page); with `q` (glob) "
            "or `cursor` the cursor-paginated listing of `/files/search`",
            "parameters": [
                RECID,
                param("index"),
                param("page", schema=PAGE),
                param("size", schema=SIZE),
                param("q"),
                param("cursor", schema=CURSOR),
            ],
            "responses": {"200": json_response(ref("FileList"), "Files"), "400": PROBLEM, "404": PROBLEM},
        }
    },
    "/api/records/{recid}/files/search": {
        "get": {
            "summary": "Files by glob with cursor pagination",
            "parameters": [
                RECID,
                param("q"),
                param("index"),
                param("cursor", schema=CURSOR),
                param("size", schema=SIZE),
            ],
            "responses": {"200": json_response(ref("FileSearch"), "Files"), "400": PROBLEM, "404": PROBLEM},
        }
    },
    "/api/records/{recid}/pack": {
        "get": {
            "summary": "What a zip pack would hold and its exact size",
            "parameters": [RECID, param("index"), param("glob"), param("files")],
            "responses": {
                "200": json_response(ref("PackInfo"), "Pack"),
                "400": PROBLEM,
                "401": PROBLEM,
                "403": PROBLEM,
                "404": PROBLEM,
            },
        }
    },
    "/api/records/{recid}/preview": {
        "get": {
            "summary": "Structure and first rows of a file",
            "parameters": [
                RECID,
                param("key", schema={"type": "string", "minLength": 1}, required=True),
                param("rows", schema={"type": "integer", "minimum": 1, "maximum": 100}),
            ],
            "responses": {
                "200": json_response(ref("Preview"), "Preview"),
                "400": PROBLEM,
                "401": PROBLEM,
                "403": PROBLEM,
                "404": PROBLEM,
            },
        }
    },
    "/api/records/{recid}/histogram": {
        "get": {
            "summary": "Histogram of a numeric column (JSON; PNG or SVG with format=)",
            "parameters": [
                RECID,
                param("key", schema={"type": "string", "minLength": 1}, required=True),
                param("column", schema={"type": "string", "minLength": 1}, required=True),
                param("bins", schema={"type": "integer", "minimum": 1, "maximum": 1000}),
                param("range", description="lo,hi (numbers, lo < hi)"),
                param("format", schema={"enum": ["json", "png", "svg"]}),
            ],
            "responses": {
                "200": json_response(ref("Histogram"), "Histogram"),
                "400": PROBLEM,
                "401": PROBLEM,
                "403": PROBLEM,
                "404": PROBLEM,
            },
        }
    },
    "/api/environments": {
        "get": {
            "summary": "The analysis environments (analysis_envs/): buildpack, spec, build key, built or not",
            "responses": {"200": json_response(ref("Environments"), "Environments")},
        }
    },
    "/api/environments/builds": {
        "get": {
            "summary": "Finished environment builds, newest first",
            "parameters": [param("page", schema=PAGE), param("size", schema=SIZE)],
            "responses": {"200": json_response(ref("BuildPage"), "Builds"), "400": PROBLEM},
        }
    },
    "/api/analyses": {
        "get": {
            "summary": "Analysis jobs, newest first (without results): a user's own; curators see everyone's",
            "parameters": [
                param("page", schema=PAGE),
                param("size", schema=SIZE),
                param("mine", schema={"enum": ["0", "1", "true", "false"]}, description="Only the caller's jobs"),
                param("dataset", schema=ID, description="Only jobs over this dataset (record id)"),
                param(
                    "state",
                    schema={"enum": ["queued", "running", "done", "failed", "cancelled"]},
                    description="Only jobs in this state",
                ),
            ],
            "responses": {
                "200": json_response(ref("JobList"), "Jobs"),
                "400": PROBLEM,
                "401": PROBLEM,
                "503": PROBLEM,
            },
        },
        "post": {
            "summary": "Start an analysis job over a dataset (code named as module:Class: curators only); "
            "429 when the caller has `quota_jobs_per_user` jobs queued or running",
            "security": [{"token": ["analyses:run"]}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("JobRequest")}}},
            "responses": {
                "202": {**json_response(ref("Job"), "The queued job"), "headers": {"Location": {"schema": STR}}},
                "400": PROBLEM,
                "401": PROBLEM,
                "403": PROBLEM,
                "404": PROBLEM,
                "429": RATE_LIMITED,
                "503": PROBLEM,
            },
        },
    },
    "/api/analyses/{job_id}": {
        "get": {
            "summary": "A job: state, progress, and when done its result and provenance",
            "parameters": [JOB_ID],
            "responses": {"200": json_response(ref("Job"), "The job"), "404": PROBLEM, "503": PROBLEM},
        }
    },
    "/api/analyses/{job_id}/plot.{fmt}": {
        "get": {
            "summary": "A finished job's histogram as a plot",
            "parameters": [
                JOB_ID,
                param("fmt", "path", {"enum": ["png", "svg"]}),
                param("name", description="Which histogram (default: the first)"),
            ],
            "responses": {
                "200": {
                    "description": "The plot",
                    "content": {
                        m: {"schema": {"type": "string", "format": "binary"}} for m in ("image/png", "image/svg+xml")
                    },
                },
                "400": PROBLEM,
                "404": PROBLEM,
                "409": PROBLEM,
                "503": PROBLEM,
            },
        }
    },
    "/api/analyses/{job_id}/histogram.{fmt}": {
        "get": {
            "summary": "A finished job's histograms as a download: JSON, HDF5 (edges and counts) or ROOT (TH1)",
            "parameters": [
                JOB_ID,
                param("fmt", "path", {"enum": ["json", "h5", "root"]}),
                param("name", description="Only this histogram"),
            ],
            "responses": {
                "200": {
                    "description": "The histograms, with the cut flow and provenance",
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "application/x-hdf5": {"schema": BINARY},
                        "application/octet-stream": {"schema": BINARY},
                    },
                },
                "400": PROBLEM,
                "404": PROBLEM,
                "409": PROBLEM,
                "503": PROBLEM,
            },
        }
    },
    "/api/analyses/{job_id}/cancel": {
        "post": {
            "summary": "Cancel a job: a queued one at once (200); a running one at the first chunk boundary after its "
            "worker hears of it at its next heartbeat, within about a second (202, still running; a job that ends "
            "first stays done); the job's owner or an admin",
            "parameters": [JOB_ID],
            "security": [{"token": ["analyses:run"]}],
            "responses": {
                "200": json_response(ref("Job"), "The cancelled job"),
                "202": json_response(ref("Job"), "The running job, asked to stop"),
                "401": PROBLEM,
                "403": PROBLEM,
                "404": PROBLEM,
                "409": PROBLEM,
                "503": PROBLEM,
            },
        }
    },
    "/api/analyses/{job_id}/publish": {
        "post": {
            "summary": "Publish a finished job's result as a Derived dataset record; the job's owner or a curator",
            "parameters": [JOB_ID],
            "security": [{"token": ["deposit:publish"]}],
            "requestBody": {"content": {"application/json": {"schema": ref("PublishRequest")}}},
            "responses": {
                "201": json_response(ref("Published"), "The new record"),
                "400": PROBLEM,
                "401": PROBLEM,
                "403": PROBLEM,
                "404": PROBLEM,
                "409": PROBLEM,
                "503": PROBLEM,
            },
        }
    },
    "/api/analyses/compare": {
        "get": {
            "summary": "Two runs of one analysis compared: whether their integer bins and cut flows are identical",
            "parameters": [param("a", schema=ID, required=True), param("b", schema=ID, required=True)],
            "responses": {
                "200": json_response(ref("Comparison"), "The comparison (verdicts null until both are done)"),
                "400": PROBLEM,
                "404": PROBLEM,
                "503": PROBLEM,
            },
        }
    },
    "/api/analyses/compare/plot.{fmt}": {
        "get": {
            "summary": "Two finished runs of one analysis on one plot",
            "parameters": [
                param("fmt", "path", {"enum": ["png", "svg"]}),
                param("a", schema=ID, required=True),
                param("b", schema=ID, required=True),
                param("name", description="Which histogram (default: the analysis' main one)"),
                param("bins", schema={"type": "integer", "minimum": 0}),
                param("scale", schema={"enum": ["auto", "linear", "log"]}),
            ],
            "responses": {
                "200": {
                    "description": "The plot",
                    "content": {m: {"schema": BINARY} for m in ("image/png", "image/svg+xml")},
                },
                "400": PROBLEM,
                "404": PROBLEM,
                "503": PROBLEM,
            },
        }
    },
    "/api/education/lessons": {
        "get": {
            "summary": "The lessons: level, duration, topics, and their sample pack (size and download)",
            "responses": {"200": json_response(ref("Lessons"), "Lessons")},
        }
    },
    "/api/hooks/{provider}": {
        "post": {
            "summary": "A git host's webhook delivery (GitHub `X-Hub-Signature-256`, GitLab `X-Gitlab-Token`; "
            "`generic`: GitHub's format). A published release of a connected repository becomes a new version of its "
            "software record; every delivery is recorded and listed with its outcome",
            "parameters": [param("provider", "path", {"enum": ["github", "gitlab", "generic"]})],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {
                "200": json_response(ref("Delivery"), "A delivery id seen before: its first outcome, nothing redone"),
                "201": json_response(ref("Delivery"), "The new version was created (processed in the request)"),
                "202": json_response(ref("Delivery"), "Verified and queued for a worker: outcome `pending`"),
                "400": PROBLEM,
                "401": PROBLEM,
                "404": PROBLEM,
                "503": PROBLEM,
            },
        }
    },
    "/api/repositories": {
        "get": {
            "summary": "The git repositories the caller connected",
            "responses": {"200": json_response(ref("RepositoryList"), "Repositories"), "401": PROBLEM},
        },
        "post": {
            "summary": "Connect a git repository; the answer carries its webhook secret, shown this once",
            "security": [{"token": ["deposit:write", "deposit:publish"]}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("RepositoryRequest")}}},
            "responses": {
                "201": json_response(ref("ConnectedRepository"), "Connected"),
                "400": PROBLEM,
                "401": PROBLEM,
                "403": PROBLEM,
                "404": PROBLEM,
                "409": PROBLEM,
            },
        },
    },
    "/api/repositories/{repository_id}": {
        "get": {
            "summary": "A connected repository (its owner or a curator)",
            "parameters": [REPOSITORY_ID],
            "responses": {"200": json_response(ref("Repository"), "The repository"), "401": PROBLEM, "404": PROBLEM},
        },
        "delete": {
            "summary": "Disconnect a repository (the records it made stay)",
            "parameters": [REPOSITORY_ID],
            "responses": {"204": {"description": "Disconnected"}, "401": PROBLEM, "404": PROBLEM},
        },
    },
    "/api/repositories/{repository_id}/secret": {
        "post": {
            "summary": "A new webhook secret (the old one stops working at once), shown this once",
            "parameters": [REPOSITORY_ID],
            "responses": {
                "200": json_response(ref("ConnectedRepository"), "The repository and its new secret"),
                "401": PROBLEM,
                "404": PROBLEM,
            },
        }
    },
    "/api/repositories/{repository_id}/deliveries": {
        "get": {
            "summary": "The repository's webhook deliveries and their outcomes, newest first",
            "parameters": [REPOSITORY_ID, param("page", schema=PAGE), param("size", schema=SIZE)],
            "responses": {
                "200": json_response(ref("DeliveryPage"), "Deliveries"),
                "400": PROBLEM,
                "401": PROBLEM,
                "404": PROBLEM,
            },
        }
    },
    "/api/repositories/{repository_id}/deliveries/{delivery_id}/retry": {
        "post": {
            "summary": "Process a failed or refused (but verified) delivery again",
            "parameters": [REPOSITORY_ID, param("delivery_id", "path", ID, description="Delivery id")],
            "responses": {
                "200": json_response(ref("Delivery"), "The delivery with its new outcome (processed in the request)"),
                "202": json_response(ref("Delivery"), "Queued for a worker again: outcome `pending`"),
                "401": PROBLEM,
                "404": PROBLEM,
                "409": PROBLEM,
            },
        }
    },
    "/api/openapi.json": {
        "get": {
            "summary": "This document (OpenAPI 3.1)",
            "responses": {"200": json_response({"type": "object"}, "The OpenAPI document")},
        }
    },
    "/api/stats": {
        "get": {
            "summary": "Usage of a record version and of all its versions",
            "parameters": [param("recid", schema=ID, required=True)],
            "responses": {"200": json_response(ref("Stats"), "Statistics"), "400": PROBLEM, "404": PROBLEM},
        }
    },
}


#: Personal access tokens (`/settings/tokens`, `portal tokens create`). The scopes an operation needs are listed in
#: its security requirement (OpenAPI 3.1 lets a non-OAuth2 scheme name them); a token also acts within its user's
#: roles. No credential: 401; a token without the scope, or an account without the role: 403 naming it.
TOKEN_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "oep_…",
    "description": "A personal access token, sent as `Authorization: Bearer oep_…`, with scopes: "
    + "; ".join(f"`{name}`: {meaning}" for name, meaning in SCOPES.items()),
}


def _with_default(path: str, operation: dict[str, Any]) -> dict[str, Any]:
    # Every error of the API is problem details, also those no operation lists (405, 500).
    responses = dict(operation["responses"])
    if "{recid}" in path and "404" in responses:
        responses["410"] = PROBLEM  # a removed record: its tombstone (reason and citation)
    return {**operation, "responses": {**responses, "default": UNEXPECTED}}


def document(max_page_size: int = 1000, executors: list[str] | None = None) -> dict[str, Any]:
    """The document, with the limits this portal is configured with: the largest page ``size`` and the
    executors a job may name."""
    paths = json.loads(json.dumps(PATHS))
    for path, operations in json.loads(json.dumps({**DEPOSIT_PATHS, **JOBS_PATHS})).items():
        paths.setdefault(path, {}).update(operations)
    for operations in paths.values():  # every page `size` takes this portal's bound (no other parameter does)
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "size" and parameter["schema"] == SIZE:
                    parameter["schema"] = {**SIZE, "maximum": max_page_size}
    schemas = json.loads(json.dumps({**SCHEMAS, **DEPOSIT_SCHEMAS, **JOBS_SCHEMAS}))
    if executors:
        schemas["JobRequest"]["properties"]["executor"]["enum"] = executors
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Open Experiment Data portal API",
            "version": __version__,
            "description": "Records, versions, files, previews, exports and usage statistics.",
        },
        "paths": {path: {method: _with_default(path, op) for method, op in ops.items()} for path, ops in paths.items()},
        "components": {"schemas": schemas, "securitySchemes": {"token": TOKEN_SCHEME}},
    }


@bp.get("/api/openapi.json")
def openapi() -> Any:
    svc = services()
    executors = svc.analyses.executors.names() if svc.analyses is not None else None
    return jsonify(document(svc.settings.api_max_page_size, executors))
