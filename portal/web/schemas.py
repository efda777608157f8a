"""The components of the OpenAPI document: JSON schemas of the API's bodies, and the helpers that write
parameters and responses (every error is RFC 9457 problem details)."""

from __future__ import annotations

from typing import Any

STR = {"type": "string"}
INT = {"type": "integer"}
LINKS = {"type": "object", "additionalProperties": {"type": "string"}}
#: a query argument or header without a schema of its own: any text but a NUL byte, which every query argument
#: refuses (portal/web/request.py: PostgreSQL cannot store or compare one)
ARG = {"type": "string", "pattern": "^[^\\u0000]*$"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


PROBLEM = {
    "description": "Problem details (RFC 9457)",
    "content": {"application/problem+json": {"schema": ref("Problem")}},
}
#: 429 of a rate-limited operation (`portal/web/limits.py`): when to try again, in seconds.
RATE_LIMITED = {
    **PROBLEM,
    "description": "Too many requests from this client (rate limit); problem details",
    "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
}


def param(
    name: str, where: str = "query", schema: dict[str, Any] | None = None, required: bool = False, description: str = ""
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema or (STR if where == "path" else ARG),
        "description": description,
    }


# Ids are 32-bit in the database: anything else is refused before it reaches SQL (404 naming the parameter).
ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
PAGE = ID  # page numbers are offsets into INTEGER-keyed lists: the same bounds as ids
#: ``maximum`` is the configured PORTAL_API_MAX_PAGE_SIZE (the document is built with it; 1000 by default)
SIZE = {"type": "integer", "minimum": 1, "maximum": 1000}
CURSOR = {"type": "integer", "minimum": -1, "maximum": 2**63 - 1}
RECID = param("recid", "path", ID, description="Record id (a concept id redirects to its latest version)")

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["title", "status", "detail"],
        "properties": {
            "type": STR,
            "title": STR,
            "status": INT,
            "detail": STR,
            "field": STR,
            "source": STR,
            "record": {"type": ["integer", "string"]},
            # a removed record's tombstone (410)
            "reason": STR,
            "citation": STR,
            "doi": {"type": ["string", "null"]},
            "removed_at": STR,
        },
    },
    "File": {
        "type": "object",
        "required": ["key"],
        "properties": {
            "key": STR,
            "filename": STR,
            "uri": STR,
            "size": INT,
            "checksum": STR,
            "type": STR,
            "description": STR,
            "availability": STR,
            "format": STR,
            "entries": INT,
            "position": INT,
        },
    },
    "FileIndex": {
        "type": "object",
        "required": ["key", "number_files", "size"],
        "properties": {
            "key": STR,
            "description": STR,
            "uri": STR,
            "number_files": INT,
            "size": INT,
            "links": LINKS,
            "files": {"type": "array", "items": ref("File")},
        },
    },
    "RecordMetadata": {
        "type": "object",
        "required": ["recid", "title", "type", "conceptrecid", "versions"],
        "properties": {
            "recid": STR,
            "title": STR,
            "doi": STR,
            "conceptrecid": STR,
            "conceptdoi": STR,
            "type": {"type": "object", "required": ["primary"]},
            "files": {"type": "array", "items": ref("File")},
            "_file_indices": {"type": "array", "items": ref("FileIndex")},
            "versions": {
                "type": "object",
                "required": ["index", "is_latest"],
                "properties": {"index": INT, "is_latest": {"type": "boolean"}},
            },
        },
    },
    "Record": {
        "type": "object",
        "required": ["id", "metadata", "links", "created", "updated"],
        "properties": {
            "id": INT,
            "conceptrecid": INT,
            "created": STR,
            "updated": STR,
            "revision": INT,
            "status": {"enum": ["draft", "published"]},
            "metadata": ref("RecordMetadata"),
            "links": LINKS,
            "citations": {**INT, "description": "In search hits: how many works cite the record (all versions)"},
        },
    },
    "RecordList": {
        "type": "object",
        "required": ["hits", "links"],
        "properties": {
            "hits": {
                "type": "object",
                "required": ["total", "hits"],
                "properties": {"total": INT, "hits": {"type": "array", "items": ref("Record")}},
            },
            "aggregations": {"type": "object"},
            "links": LINKS,
        },
    },
    "FilePage": {
        "type": "object",
        "required": ["hits", "page", "size", "links"],
        "properties": {
            "hits": {
                "type": "object",
                "required": ["total", "hits"],
                "properties": {"total": INT, "hits": {"type": "array", "items": ref("File")}},
            },
            "page": INT,
            "size": INT,
            "links": LINKS,
        },
    },
    "FileList": {"anyOf": [ref("FilePage"), ref("FileSearch")]},  # page/size, or q/cursor
    "StyledCitation": {
        "type": "object",
        "required": ["recid", "style", "citation"],
        "properties": {"recid": INT, "style": STR, "citation": STR},
    },
    "FileSearch": {
        "type": "object",
        "required": ["hits", "next_cursor"],
        "properties": {
            "hits": {"type": "object", "properties": {"hits": {"type": "array", "items": ref("File")}}},
            "next_cursor": {"type": ["integer", "null"]},
            "links": LINKS,
        },
    },
    "Counts": {
        "type": "object",
        "required": ["events", "unique", "volume"],
        "properties": {"events": INT, "unique": INT, "volume": INT},
    },
    "Stats": {
        "type": "object",
        "required": ["recid", "this_version", "all_versions", "last_aggregated"],
        "properties": {
            "recid": INT,
            "conceptrecid": INT,
            "this_version": {"type": "object", "additionalProperties": ref("Counts")},
            "all_versions": {"type": "object", "additionalProperties": ref("Counts")},
            "last_aggregated": {"type": ["string", "null"]},
            "also_downloaded": {"type": "array"},
        },
    },
    "Environment": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": STR,
            "path": STR,
            "buildpack": STR,
            "builder": STR,
            "key": STR,
            "spec_files": {"type": "array", "items": STR},
            "spec_hash": STR,
            "built": {"type": "boolean"},
            "unsupported": {"type": "array", "items": STR},
            "launch": STR,
            "error": STR,
        },
    },
    "Environments": {
        "type": "object",
        "required": ["environments", "builds"],
        "properties": {"environments": {"type": "array", "items": ref("Environment")}, "builds": STR},
    },
    "BuildPage": {
        "type": "object",
        "required": ["hits", "page", "size", "links"],
        "properties": {
            "hits": {
                "type": "object",
                "required": ["total", "hits"],
                "properties": {
                    "total": INT,
                    "hits": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["key", "builder", "source", "spec_hash", "created"],
                            "properties": {
                                "key": STR,
                                "builder": STR,
                                "source": STR,
                                "commit": {"type": ["string", "null"]},
                                "spec_hash": STR,
                                "created": STR,
                            },
                        },
                    },
                },
            },
            "page": INT,
            "size": INT,
            "links": LINKS,
        },
    },
    "PackInfo": {
        "type": "object",
        "required": ["files", "size", "content_size", "download"],
        "properties": {"files": INT, "size": INT, "content_size": INT, "download": STR},
    },
    "Preview": {
        "type": "object",
        "required": ["key", "format", "size", "structure", "columns", "rows"],
        "properties": {
            "key": STR,
            "format": STR,
            "size": INT,
            "structure": {"type": "object"},
            "columns": {"type": "array", "items": STR},
            "rows": {"type": "array"},
        },
    },
    "Histogram": {
        "type": "object",
        "required": ["column", "edges", "counts", "entries"],
        "properties": {
            "column": STR,
            "edges": {"type": "array", "items": {"type": "number"}},
            "counts": {"type": "array", "items": INT},
            "entries": INT,
            "sampled_rows": INT,
            "underflow": INT,
            "overflow": INT,
        },
    },
}


JOB_ID = param("job_id", "path", ID, description="Analysis job id")
UNEXPECTED = {
    "description": "Any other error (a method the path does not allow, an internal error), as problem details",
    "content": {"application/problem+json": {"schema": ref("Problem")}},
}
TIME = {"type": ["string", "null"]}

SCHEMAS.update(
    {
        "Citation": {
            "type": "object",
            "required": ["id", "relation", "scheme", "identifier", "url", "source"],
            "properties": {
                "id": INT,
                "relation": {"enum": ["isCitedBy", "isReferencedBy", "isSupplementTo"]},
                "scheme": {"enum": ["doi", "arxiv", "inspire"]},
                "identifier": STR,
                "url": STR,
                "title": {"type": ["string", "null"]},
                "source": {"enum": ["user", "scholix"]},
                "created": STR,
            },
        },
        "CitationRequest": {
            "type": "object",
            "required": ["relation", "identifier"],
            "properties": {
                "relation": {"enum": ["isCitedBy", "isReferencedBy", "isSupplementTo"]},
                "identifier": {**STR, "description": "A DOI, an arXiv id or an INSPIRE literature id (or its URL)"},
                "scheme": {"enum": ["doi", "arxiv", "inspire"], "description": "Default: told by the identifier"},
                "title": STR,
            },
        },
        "CitedBy": {
            "type": "object",
            "required": ["recid", "conceptrecid", "count", "external"],
            "properties": {
                "recid": INT,
                "conceptrecid": INT,
                "count": {**INT, "description": "External works plus the portal's records relating to this one"},
                "external": {"type": "array", "items": ref("Citation")},
            },
        },
        "DraftUpdate": {
            "type": "object",
            "required": ["metadata"],
            "properties": {
                "metadata": {"type": "object", "description": "The draft's new record metadata (record schema)"},
                "files": {"type": "array", "items": ref("File"), "description": "Its new files, when they change"},
            },
        },
        "JobRequest": {
            "type": "object",
            "required": ["analysis", "dataset"],
            "additionalProperties": False,
            "properties": {
                "analysis": {
                    "type": "string",
                    "minLength": 1,
                    "description": "A built-in or installed analysis, NAME@RECID (an analysis software record RECID "
                    "provides, run in its environment) or module:Class (curators only)",
                },
                "dataset": {**ID, "description": "Record id of the dataset"},
                "executor": {"type": "string", "description": "One of the executors the portal offers"},
                "skip_bad_files": {"type": "boolean"},
                "parameters": {"type": "object"},
            },
        },
        "Job": {
            "type": "object",
            "required": ["id", "analysis", "dataset_recid", "executor", "state", "created_at", "links"],
            "properties": {
                "id": INT,
                "analysis": STR,
                "dataset_recid": INT,
                "executor": STR,
                "skip_bad_files": {"type": "boolean"},
                "parameters": {"type": "object"},
                "state": {"enum": ["queued", "running", "done", "failed", "cancelled"]},
                "progress": {"type": "object"},
                "error": {"type": ["string", "null"]},
                "derived_recid": {"type": ["integer", "null"]},
                "created_at": STR,
                "started_at": TIME,
                "finished_at": TIME,
                "result": {"type": ["object", "null"]},
                "provenance": {"type": ["object", "null"]},
                "links": LINKS,
            },
        },
        "JobList": {
            "type": "object",
            "required": ["hits", "total", "page", "size", "links"],
            "properties": {
                "hits": {"type": "array", "items": ref("Job")},
                "total": INT,
                "page": INT,
                "size": INT,
                "links": LINKS,
            },
        },
        "Comparison": {
            "type": "object",
            "required": ["a", "b", "analysis", "ready", "identical", "hists", "jobs", "plot"],
            "properties": {
                "a": INT,
                "b": INT,
                "analysis": STR,
                "ready": {"type": "boolean"},
                "same_code": {"type": ["boolean", "null"]},
                "identical": {"type": ["boolean", "null"]},
                "cutflow_identical": {"type": ["boolean", "null"]},
                "hists": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "identical", "differing_bins"],
                        "properties": {
                            "name": STR,
                            "identical": {"type": "boolean"},
                            "same_edges": {"type": "boolean"},
                            "differing_bins": INT,
                            "total_a": INT,
                            "total_b": INT,
                        },
                    },
                },
                "jobs": {"type": "array", "items": ref("Job")},
                "plot": STR,
            },
        },
        "PublishRequest": {
            "type": "object",
            "properties": {
                "software": {"type": "integer", "description": "Record id of the analysis code (isCompiledBy)"},
                "title": STR,
            },
        },
        "Published": {
            "type": "object",
            "required": ["recid", "job", "record"],
            "properties": {"recid": INT, "job": INT, "record": STR},
        },
        "Lessons": {
            "type": "object",
            "required": ["lessons"],
            "properties": {
                "lessons": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["slug", "recid", "title", "level", "pack", "preview"],
                        "properties": {
                            "slug": STR,
                            "recid": INT,
                            "title": STR,
                            "level": STR,
                            "duration_minutes": INT,
                            "topics": {"type": "array", "items": STR},
                            "pack": {
                                "type": "object",
                                "required": ["size", "download"],
                                "properties": {"size": {"type": ["integer", "null"]}, "download": STR},
                            },
                            "preview": STR,
                        },
                    },
                }
            },
        },
    }
)


_REPOSITORY_PROPERTIES = {
    "id": INT,
    "provider": {"enum": ["github", "gitlab", "generic"]},
    "url": STR,
    "recid": {"type": ["integer", "null"]},
    "created_at": TIME,
    "hook_path": STR,
}
SCHEMAS.update(
    {
        "RepositoryRequest": {
            "type": "object",
            "required": ["provider", "url"],
            "properties": {
                "provider": {"enum": ["github", "gitlab", "generic"]},
                "url": {"type": "string", "description": "The repository's https:// URL (its host must be allowed)"},
                "recid": {
                    "type": ["integer", "null"],
                    "description": "The software record it feeds (default: the first release creates one)",
                },
            },
        },
        "Repository": {
            "type": "object",
            "required": list(_REPOSITORY_PROPERTIES),
            "properties": _REPOSITORY_PROPERTIES,
        },
        "ConnectedRepository": {
            "type": "object",
            "required": [*_REPOSITORY_PROPERTIES, "secret"],
            "properties": {
                **_REPOSITORY_PROPERTIES,
                "secret": {"type": "string", "description": "The webhook secret: shown this once, never again"},
            },
        },
        "RepositoryList": {
            "type": "object",
            "required": ["repositories"],
            "properties": {"repositories": {"type": "array", "items": ref("Repository")}},
        },
        "Delivery": {
            "type": "object",
            "required": ["id", "provider", "delivery", "event", "outcome", "reason", "attempts", "retryable"],
            "properties": {
                "id": INT,
                "repository_id": {"type": ["integer", "null"]},
                "provider": STR,
                "delivery": {"type": "string", "description": "The provider's delivery id"},
                "event": STR,
                "tag": {"type": ["string", "null"]},
                "outcome": {"enum": ["pending", "processing", "created", "refused", "failed"]},
                "reason": {"type": "string", "description": "Why it was refused or failed (empty when created)"},
                "field": {"type": ["string", "null"], "description": "The header, payload or CITATION.cff field"},
                "recid": {"type": ["integer", "null"], "description": "The version it created"},
                "record_url": {"type": ["string", "null"]},
                "attempts": INT,
                "received_at": TIME,
                "finished_at": TIME,
                "retryable": {"type": "boolean"},
                "replayed": {"type": "boolean"},
            },
        },
        "DeliveryPage": {
            "type": "object",
            "required": ["hits", "total", "page", "size", "links"],
            "properties": {
                "hits": {"type": "array", "items": ref("Delivery")},
                "total": INT,
                "page": INT,
                "size": INT,
                "links": LINKS,
            },
        },
    }
)
