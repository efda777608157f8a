"""The deposit API's part of the OpenAPI document (InvenioRDM-shaped drafts and files, tus uploads)."""

from __future__ import annotations

from typing import Any

from portal.web.schemas import ID, INT, LINKS, PAGE, PROBLEM, RECID, STR, json_response, param, ref

KEY = param("key", "path", STR, description="The file's key: a plain file name")
UPLOAD = param("upload_id", "path", STR, description="The upload's id (from the Location of its creation)")
WRITE = [{"token": ["deposit:write"]}]
ERRORS = {"401": PROBLEM, "403": PROBLEM, "404": PROBLEM, "409": PROBLEM}
TUS_HEADERS = {"Tus-Resumable": {"schema": {"const": "1.0.0"}}}
#: a tus request names the protocol version it speaks; the only one served is 1.0.0 (any other: 412, as tus says)
TUS_VERSION = param("Tus-Resumable", "header", {"type": "string", "enum": ["1.0.0"]}, required=True)
BYTE_COUNT = {"type": "string", "pattern": "^[0-9]{1,18}$"}

SLUG_ARG = {"type": "string", "pattern": "^[^\\u0000]{0,64}$"}
COLLECTION = param("collection", schema=SLUG_ARG, description="The slug of the collection the draft goes to")
REQUEST_ID = param("request_id", "path", ID, description="A review request's id")

DEPOSIT_PATHS: dict[str, Any] = {
    "/api/records": {
        "post": {
            "summary": "Create a draft (a new record, unpublished) owned by the caller",
            "security": WRITE,
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("DraftUpdate")}}},
            "responses": {
                "201": json_response(ref("Draft"), "The draft"),
                "400": PROBLEM,
                "401": PROBLEM,
                "403": PROBLEM,
            },
        }
    },
    "/api/records/{recid}/draft": {
        "get": {
            "summary": "A draft (InvenioRDM shape); its owner or a curator",
            "parameters": [RECID],
            "security": WRITE,
            "responses": {"200": json_response(ref("Draft"), "The draft"), **ERRORS},
        },
        "put": {
            "summary": "Replace a draft's metadata (and, for curators importing stored files, its file rows)",
            "parameters": [RECID],
            "security": WRITE,
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("DraftUpdate")}}},
            "responses": {"200": json_response(ref("Draft"), "The draft"), "400": PROBLEM, **ERRORS},
        },
        "delete": {
            "summary": "Discard a draft, its uploads and their bytes; its owner or a curator",
            "parameters": [RECID],
            "security": WRITE,
            "responses": {"204": {"description": "Discarded"}, **ERRORS},
        },
    },
    "/api/records/{recid}/versions": {
        "post": {
            "summary": "Start a new version (a draft carrying the latest files over); the record's owners or a curator",
            "parameters": [RECID],
            "security": WRITE,
            "responses": {"201": json_response(ref("Draft"), "The draft"), **ERRORS},
        },
    },
    "/api/records/{recid}/draft/pids/doi": {
        "post": {
            "summary": "Reserve the DOI the draft will be published under (a draft DOI at the registry, not resolvable "
            "until the draft is published; idempotent); its owner or a curator",
            "security": WRITE,
            "parameters": [RECID],
            "responses": {
                "201": json_response(ref("Draft"), "The draft, its DOI in `pids.doi`"),
                "400": PROBLEM,
                "503": PROBLEM,
                **ERRORS,
            },
        }
    },
    "/api/records/{recid}/draft/actions/publish": {
        "post": {
            "summary": "Publish a draft: its files are ingested into the catalogue, it gets its DOI and becomes the "
            "latest version; curators, or its owner where the site lets owners publish (`deposit_owners_publish`)",
            "security": [{"token": ["deposit:publish"]}],
            "parameters": [RECID, COLLECTION],
            "responses": {
                "202": json_response(
                    ref("PublishOutcome"),
                    "The published version; or, for a draft going to a curated collection its publisher does not "
                    "curate, the review request it was submitted as; or, for a large deposit (more files than "
                    "`ingest_queue_files` or more bytes than `deposit_queue_bytes`), the `deposit.publish` job "
                    "publishing it (`Location`: `/api/jobs/<id>`; the version is published when the job succeeds)",
                ),
                "400": PROBLEM,
                "507": PROBLEM,
                **ERRORS,
            },
        }
    },
    "/api/records/{recid}/draft/actions/submit-review": {
        "post": {
            "summary": "Submit a draft to a curated collection (`collection`, or the one its metadata's `collections` "
            "names) for review; resubmits a declined or cancelled request; the draft's owner",
            "parameters": [RECID, COLLECTION],
            "security": [{"token": ["deposit:publish"]}],
            "requestBody": {"required": False, "content": {"application/json": {"schema": ref("SubmitReview")}}},
            "responses": {
                "202": json_response(ref("ReviewRequest"), "The submitted request"),
                "400": PROBLEM,
                **ERRORS,
            },
        }
    },
    "/api/requests": {
        "get": {
            "summary": "Review requests the caller may see, newest change first: their own and those of the "
            "collections they curate (admins: all)",
            "parameters": [
                param("state", schema={"enum": ["submitted", "accepted", "declined", "cancelled"]}),
                param("collection", schema=SLUG_ARG, description="A collection's slug"),
                param("page", schema=PAGE),
                param("size", schema={"type": "integer", "minimum": 1, "maximum": 100}),
            ],
            "responses": {
                "200": json_response(ref("ReviewRequestList"), "One page of requests (sign in or send a token)"),
                "400": PROBLEM,
                "401": PROBLEM,
                "404": PROBLEM,
            },
        }
    },
    "/api/requests/{request_id}": {
        "get": {
            "summary": "A review request with its timeline; its owner, its collection's curators, admins",
            "parameters": [REQUEST_ID],
            "responses": {"200": json_response(ref("ReviewRequest"), "The request"), "401": PROBLEM, "404": PROBLEM},
        }
    },
    "/api/collections": {
        "get": {
            "summary": "The collections drafts may be submitted to (curated ones review them)",
            "responses": {"200": json_response(ref("CollectionList"), "Every collection")},
        }
    },
    **{
        f"/api/requests/{{request_id}}/actions/{action}": {
            "post": {
                "summary": summary,
                "parameters": [REQUEST_ID],
                "security": [{"token": [scope]}],
                "requestBody": {"required": False, "content": {"application/json": {"schema": ref("ReviewComment")}}},
                "responses": {
                    "200": json_response(ref("ReviewRequest"), "The request"),
                    **(
                        {
                            "202": json_response(
                                ref("QueuedAcceptance"),
                                "A large deposit (as the publish action counts it): the request, still `submitted`, "
                                "and the `deposit.publish` job publishing its draft (`Location`: `/api/jobs/<id>`); "
                                "the request is accepted when the job succeeds, and stays submitted if it fails",
                            )
                        }
                        if action == "accept"
                        else {}
                    ),
                    "400": PROBLEM,
                    **ERRORS,
                },
            }
        }
        for action, scope, summary in (
            (
                "accept",
                "deposit:publish",
                "Accept a submitted request: its draft is published as the publish action publishes it (DOI); "
                "a curator of its collection",
            ),
            (
                "decline",
                "deposit:publish",
                "Decline a submitted request with a `comment` (required); the draft is editable again; a curator "
                "of its collection",
            ),
            ("cancel", "deposit:write", "Cancel a submitted request; the draft's owner"),
        )
    },
    "/api/records/{recid}/draft/files": {
        "get": {
            "summary": "The draft's files: carried from the previous version, uploaded, pending",
            "parameters": [RECID],
            "security": WRITE,
            "responses": {"200": json_response(ref("DraftFiles"), "Its files"), **ERRORS},
        },
        "post": {
            "summary": 'Declare files by key (`[{"key": ...}]`); a carried key declared again is replaced',
            "parameters": [RECID],
            "security": WRITE,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "array", "items": ref("FileDeclaration")}}},
            },
            "responses": {
                "201": json_response(ref("DraftFiles"), "Its files"),
                "400": PROBLEM,
                "413": PROBLEM,
                **ERRORS,
            },
        },
    },
    "/api/records/{recid}/draft/files/{key}": {
        "get": {
            "summary": "One file of a draft",
            "parameters": [RECID, KEY],
            "security": WRITE,
            "responses": {"200": json_response(ref("DraftFile"), "The file"), **ERRORS},
        },
        "delete": {
            "summary": "Remove a file from a draft (an upload with its bytes, or a carried file)",
            "parameters": [RECID, KEY],
            "security": WRITE,
            "responses": {"204": {"description": "Removed"}, **ERRORS},
        },
    },
    "/api/records/{recid}/draft/files/{key}/content": {
        "put": {
            "summary": "Stream a declared file's bytes (from the first byte; bounded memory, digests on the way)",
            "parameters": [RECID, KEY],
            "security": WRITE,
            "requestBody": {
                "required": True,
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            },
            "responses": {
                "200": json_response(ref("DraftFile"), "The file, pending its commit"),
                "400": PROBLEM,
                "413": PROBLEM,
                "507": PROBLEM,
                **ERRORS,
            },
        }
    },
    "/api/records/{recid}/draft/files/{key}/commit": {
        "post": {
            "summary": "Commit an uploaded file: its size and checksums are final",
            "parameters": [RECID, KEY],
            "security": WRITE,
            "responses": {"200": json_response(ref("DraftFile"), "The completed file"), **ERRORS},
        }
    },
    "/api/uploads": {
        "post": {
            "summary": "tus 1.0 creation: a resumable upload of `Upload-Length` bytes for the draft file named by "
            "`Upload-Metadata` (`record`, `filename`); extensions creation, checksum, termination",
            "parameters": [
                TUS_VERSION,
                param("Upload-Length", "header", BYTE_COUNT, required=True),
                param("Upload-Metadata", "header", STR, required=True, description="record <b64>,filename <b64>"),
            ],
            "security": WRITE,
            "responses": {
                "201": {"description": "Created; Location is the upload's URL", "headers": TUS_HEADERS},
                "400": PROBLEM,
                "412": PROBLEM,
                "413": PROBLEM,
                **ERRORS,
            },
        }
    },
    "/api/uploads/{upload_id}": {
        "patch": {
            "summary": "tus 1.0: append bytes at `Upload-Offset` (a chunk failing its `Upload-Checksum` is dropped: "
            "460); reaching `Upload-Length` commits the draft file",
            "parameters": [
                UPLOAD,
                TUS_VERSION,
                param("Upload-Offset", "header", BYTE_COUNT, required=True),
                param("Upload-Checksum", "header", STR, description="<sha1|md5|sha256> <b64 digest of the chunk>"),
            ],
            "security": WRITE,
            "requestBody": {
                "required": True,
                "content": {"application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            },
            "responses": {
                "204": {"description": "Appended; Upload-Offset is the new offset", "headers": TUS_HEADERS},
                "400": PROBLEM,
                "412": PROBLEM,
                "413": PROBLEM,
                "507": PROBLEM,
                "415": PROBLEM,
                "460": PROBLEM,
                **ERRORS,
            },
        },
        "delete": {
            "summary": "tus termination: delete the upload and its bytes",
            "parameters": [UPLOAD, TUS_VERSION],
            "security": WRITE,
            "responses": {"204": {"description": "Deleted"}, "412": PROBLEM, **ERRORS},
        },
    },
}

ZENODO_BODY = {
    "required": True,
    "content": {"application/json": {"schema": ref("ZenodoDepositionUpdate")}},
}
DEPOSITION = param("recid", "path", {"type": "integer", "minimum": 1}, description="The deposition (record) id")
BUCKET = param("bucket", "path", {"type": "integer", "minimum": 1}, description="The bucket: the draft's id")

# Zenodo's legacy deposit API (developers.zenodo.org); its clients may send the token as `?access_token=`
DEPOSIT_PATHS.update(
    {
        "/api/deposit/depositions": {
            "post": {
                "summary": "Zenodo: create a deposition (a draft) from Zenodo metadata",
                "security": WRITE,
                "requestBody": ZENODO_BODY,
                "responses": {
                    "201": json_response(ref("ZenodoDeposition"), "The deposition"),
                    "400": PROBLEM,
                    "401": PROBLEM,
                    "403": PROBLEM,
                },
            }
        },
        "/api/deposit/depositions/{recid}": {
            "get": {
                "summary": "Zenodo: a deposition (a draft: its owner or a curator; a published version: anyone)",
                "parameters": [DEPOSITION],
                "responses": {
                    "200": json_response(ref("ZenodoDeposition"), "The deposition"),
                    "401": PROBLEM,
                    "403": PROBLEM,
                    "404": PROBLEM,
                },
            },
            "put": {
                "summary": "Zenodo: replace a draft's metadata",
                "parameters": [DEPOSITION],
                "security": WRITE,
                "requestBody": ZENODO_BODY,
                "responses": {
                    "200": json_response(ref("ZenodoDeposition"), "The deposition"),
                    "400": PROBLEM,
                    **ERRORS,
                },
            },
            "delete": {
                "summary": "Zenodo: discard a draft",
                "parameters": [DEPOSITION],
                "security": WRITE,
                "responses": {"204": {"description": "Discarded"}, **ERRORS},
            },
        },
        "/api/deposit/depositions/{recid}/files": {
            "get": {
                "summary": "Zenodo: a deposition's files",
                "parameters": [DEPOSITION],
                "responses": {
                    "200": json_response({"type": "array", "items": {"type": "object"}}, "Its files"),
                    "401": PROBLEM,
                    "403": PROBLEM,
                    "404": PROBLEM,
                },
            }
        },
        "/api/files/{bucket}/{key}": {
            "put": {
                "summary": "Zenodo: stream a file into a draft's bucket (declared, stored and committed at once)",
                "parameters": [BUCKET, KEY],
                "security": WRITE,
                "requestBody": {
                    "required": True,
                    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                },
                "responses": {
                    "201": json_response({"type": "object", "required": ["key", "size", "checksum"]}, "The file"),
                    "400": PROBLEM,
                    "413": PROBLEM,
                    "507": PROBLEM,
                    **ERRORS,
                },
            }
        },
        "/api/deposit/depositions/{recid}/actions/publish": {
            "post": {
                "summary": "Zenodo: publish a deposition (as POST /api/records/{recid}/draft/actions/publish)",
                "parameters": [DEPOSITION],
                "security": [{"token": ["deposit:publish"]}],
                "responses": {
                    "202": json_response(ref("ZenodoDeposition"), "The published deposition"),
                    "400": PROBLEM,
                    "507": PROBLEM,
                    **ERRORS,
                },
            }
        },
        "/api/deposit/depositions/{recid}/actions/newversion": {
            "post": {
                "summary": "Zenodo: start a new version; `links.latest_draft` is the new draft",
                "parameters": [DEPOSITION],
                "security": WRITE,
                "responses": {"201": json_response(ref("ZenodoDeposition"), "The deposition"), **ERRORS},
            }
        },
    }
)

DEPOSIT_SCHEMAS: dict[str, Any] = {
    "PublishOutcome": {"anyOf": [ref("Draft"), ref("ReviewRequest"), ref("QueuedPublish")]},
    "QueuedAcceptance": {"allOf": [ref("ReviewRequest"), ref("QueuedPublish")]},
    "SubmitReview": {"type": "object", "properties": {"collection": STR}},
    "ReviewComment": {"type": "object", "properties": {"comment": {"type": "string", "maxLength": 10000}}},
    "ReviewRequest": {
        "type": "object",
        "required": ["id", "status", "is_open", "topic", "receiver", "timeline", "links", "created", "updated"],
        "properties": {
            "id": STR,
            "type": {"const": "community-submission"},
            "title": STR,
            "status": {"enum": ["submitted", "accepted", "declined", "cancelled"]},
            "is_open": {"type": "boolean"},
            "created": STR,
            "updated": STR,
            "topic": {"type": "object", "required": ["record"], "properties": {"record": STR}},
            "receiver": {"type": "object", "required": ["collection"], "properties": {"collection": STR}},
            "created_by": {"type": "object"},
            "timeline": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["at", "by", "action", "comment"],
                    "properties": {
                        "at": STR,
                        "by": STR,
                        "action": {"enum": ["submit", "accept", "decline", "cancel"]},
                        "comment": STR,
                    },
                },
            },
            "links": LINKS,
            "record": ref("Draft"),
        },
    },
    "ReviewRequestList": {
        "type": "object",
        "required": ["hits", "links"],
        "properties": {
            "hits": {
                "type": "object",
                "required": ["hits", "total"],
                "properties": {"hits": {"type": "array", "items": ref("ReviewRequest")}, "total": INT},
            },
            "links": LINKS,
        },
    },
    "Collection": {
        "type": "object",
        "required": ["id", "title", "curated", "curators"],
        "properties": {
            "id": STR,
            "title": STR,
            "description": STR,
            "curated": {"type": "boolean"},
            "curators": {"type": "array", "items": STR},
            "curator_group": {"type": ["string", "null"]},
        },
    },
    "CollectionList": {
        "type": "object",
        "required": ["hits"],
        "properties": {
            "hits": {
                "type": "object",
                "properties": {"hits": {"type": "array", "items": ref("Collection")}, "total": INT},
            }
        },
    },
    "ZenodoDepositionUpdate": {
        "type": "object",
        "required": ["metadata"],
        "properties": {
            "metadata": {
                "type": "object",
                "description": "Zenodo metadata: title, upload_type (dataset, software, lesson, publication, other), "
                "description, creators [{name, affiliation}], keywords, version, publication_date, license, notes",
            }
        },
    },
    "ZenodoDeposition": {
        "type": "object",
        "required": ["id", "submitted", "state", "metadata", "links", "files"],
        "properties": {
            "id": INT,
            "conceptrecid": STR,
            "submitted": {"type": "boolean"},
            "state": {"enum": ["unsubmitted", "done"]},
            "doi": STR,
            "conceptdoi": STR,
            "metadata": {"type": "object"},
            "links": LINKS,
            "files": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Draft": {
        "type": "object",
        "required": ["id", "metadata", "links", "created", "updated", "status", "is_published", "parent", "files"],
        "properties": {
            "id": INT,
            "conceptrecid": INT,
            "created": STR,
            "updated": STR,
            "revision": INT,
            "revision_id": INT,
            "status": {"enum": ["draft", "published"]},
            "is_published": {"type": "boolean"},
            "is_draft": {"type": "boolean"},
            "metadata": ref("RecordMetadata"),
            "links": LINKS,
            "parent": {"type": "object", "required": ["id"]},
            "pids": {"type": "object"},
            "versions": {"type": "object"},
            "files": {"type": "object", "required": ["enabled"]},
        },
    },
    "FileDeclaration": {
        "type": "object",
        "required": ["key"],
        "properties": {"key": STR, "size": {"type": "integer", "minimum": 0}},
    },
    "DraftFile": {
        "type": "object",
        "required": ["key", "status", "checksums", "links"],
        "properties": {
            "key": STR,
            "status": {"enum": ["pending", "completed"]},
            "size": {"type": ["integer", "null"]},
            "received": INT,
            "checksum": {"type": ["string", "null"], "description": "md5:<hex> as InvenioRDM gives it"},
            "checksums": {"type": "object", "properties": {"adler32": STR, "sha256": STR, "md5": STR}},
            "mimetype": STR,
            "storage_class": STR,
            "created": {"type": ["string", "null"]},
            "updated": {"type": ["string", "null"]},
            "links": LINKS,
        },
    },
    "DraftFiles": {
        "type": "object",
        "required": ["enabled", "entries", "links"],
        "properties": {
            "enabled": {"type": "boolean"},
            "entries": {"type": "array", "items": ref("DraftFile")},
            "links": LINKS,
        },
    },
}
