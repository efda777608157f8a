"""The background jobs' part of the OpenAPI document (`/api/jobs`) and a record's DOI registrations."""

from __future__ import annotations

from typing import Any

from portal.jobqueue.base import STATES
from portal.web.schemas import ARG, ID, INT, LINKS, PAGE, PROBLEM, RECID, SIZE, STR, json_response, param, ref

QUEUE_JOB_ID = param("job_id", "path", ID, description="Background job id")
TIME = {"type": ["string", "null"]}
#: reading needs no scope (the owner, a curator or an admin, by session or any token); cancelling needs the scope
#: of the job's kind (an analysis: `analyses:run`, a launch or build: `launch`, an ingest or a release delivery:
#: `deposit:write`) or `admin`
CANCEL_SECURITY = [
    {"token": ["analyses:run"]},
    {"token": ["launch"]},
    {"token": ["deposit:write"]},
    {"token": ["admin"]},
]

JOBS_PATHS: dict[str, Any] = {
    "/api/jobs": {
        "get": {
            "summary": "Background jobs, newest first: a user's own; curators and admins see everyone's",
            "parameters": [
                param("page", schema=PAGE),
                param("size", schema=SIZE),
                param("kind", schema=ARG, description="Only jobs of this kind (`analysis`, `launch`, `ingest`, …)"),
                param("state", schema={"enum": list(STATES)}, description="Only jobs in this state"),
                param("mine", schema={"enum": ["0", "1", "true", "false"]}, description="Only the caller's jobs"),
            ],
            "responses": {"200": json_response(ref("QueueJobList"), "Jobs"), "400": PROBLEM, "401": PROBLEM},
        }
    },
    "/api/jobs/{job_id}": {
        "get": {
            "summary": "A background job: kind, state, progress, attempts, error, times, owner; its owner, curators "
            "and admins",
            "parameters": [QUEUE_JOB_ID],
            "responses": {
                "200": json_response(ref("QueueJob"), "The job"),
                "401": PROBLEM,
                "403": PROBLEM,
                "404": PROBLEM,
            },
        }
    },
    "/api/jobs/{job_id}/cancel": {
        "post": {
            "summary": "Cancel a job: a queued one at once (200), a running one when its task next checks (202, "
            "still running); its owner or an admin. The portal's own kinds (periodic work, DOI registrations) are "
            "not cancelled (409)",
            "parameters": [QUEUE_JOB_ID],
            "security": CANCEL_SECURITY,
            "responses": {
                "200": json_response(ref("QueueJob"), "The cancelled job"),
                "202": json_response(ref("QueueJob"), "The running job, asked to stop"),
                "401": PROBLEM,
                "403": PROBLEM,
                "404": PROBLEM,
                "409": PROBLEM,
            },
        }
    },
    "/api/records/{recid}/pids/registrations": {
        "get": {
            "summary": "Where the registration of the record's DOI and its concept's stands, each with a link to "
            "the `pids.register` job sending it; its owner, curators and admins (an empty list for anyone else)",
            "parameters": [RECID],
            "responses": {"200": json_response(ref("Registrations"), "Registrations"), "404": PROBLEM},
        }
    },
}

JOBS_SCHEMAS: dict[str, Any] = {
    "QueuedPublish": {
        "type": "object",
        "required": ["job", "links"],
        "properties": {"job": ref("QueueJob"), "links": LINKS},
    },
    "QueueJob": {
        "type": "object",
        "required": ["id", "kind", "state", "attempts", "max_attempts", "created_at", "links"],
        "properties": {
            "id": INT,
            "kind": STR,
            "ref": {"type": ["string", "null"]},
            "state": {"enum": list(STATES)},
            "progress": {"type": ["object", "null"]},
            "attempts": INT,
            "max_attempts": INT,
            "error": {"type": ["string", "null"]},
            "cancel_requested": {"type": "boolean"},
            "owner_id": {"type": ["integer", "null"]},
            "created_at": TIME,
            "started_at": TIME,
            "finished_at": TIME,
            "cancellable": {"type": "boolean"},
            "links": LINKS,
        },
    },
    "QueueJobList": {
        "type": "object",
        "required": ["hits", "total", "page", "size", "links"],
        "properties": {
            "hits": {"type": "array", "items": ref("QueueJob")},
            "total": INT,
            "page": INT,
            "size": INT,
            "links": LINKS,
        },
    },
    "Registrations": {
        "type": "object",
        "required": ["recid", "provider", "registrations"],
        "properties": {
            "recid": INT,
            "provider": STR,
            "registrations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["doi", "kind", "recid", "state", "links"],
                    "properties": {
                        "doi": STR,
                        "kind": {"enum": ["version", "concept"]},
                        "recid": INT,
                        "state": {"enum": ["pending", "registered", "rejected"]},
                        "attempts": INT,
                        "next_attempt_at": TIME,
                        "error": {"type": ["string", "null"]},
                        "field": {"type": ["string", "null"]},
                        "url": {"type": ["string", "null"]},
                        "registered_at": TIME,
                        "links": LINKS,
                    },
                },
            },
        },
    },
}
