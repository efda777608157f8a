"""Domain errors, raised by services and mapped to HTTP (problem+json) in one place, `portal.web.problems`."""

from __future__ import annotations


class PortalError(Exception):
    """Base of the domain errors. ``title`` is short and fixed per class; ``detail`` names what is wrong."""

    status = 500
    title = "Internal error"

    def __init__(
        self, detail: str, *, source: str | None = None, record: str | int | None = None, field: str | None = None
    ) -> None:
        self.detail = detail
        self.source = source
        self.record = record
        self.field = field
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """One line naming where the problem is (file, record, field) and what it is."""
        where = []
        if self.source:
            where.append(str(self.source))
        if self.record is not None:
            where.append(f"record {self.record}")
        if self.field:
            where.append(f"field {self.field}")
        return f"{': '.join(where)}: {self.detail}" if where else self.detail

    def to_problem(self) -> dict[str, object]:
        problem: dict[str, object] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.message,
        }
        for key in ("source", "record", "field"):
            value = getattr(self, key)
            if value is not None:
                problem[key] = value
        return problem


class Invalid(PortalError):
    status = 400
    title = "Invalid input"


class NotFound(PortalError):
    status = 404
    title = "Not found"


class Gone(PortalError):
    status = 410
    title = "Gone"


class Removed(Gone):
    """A published version that was removed: its tombstone (why, when, and how to cite what was there)."""

    title = "Record removed"

    def __init__(
        self, detail: str, *, record: int, doi: str | None, reason: str, citation: str, removed_at: str
    ) -> None:
        super().__init__(detail, record=record)
        self.doi = doi
        self.reason = reason
        self.citation = citation
        self.removed_at = removed_at

    def to_problem(self) -> dict[str, object]:
        return {
            **super().to_problem(),
            "doi": self.doi,
            "reason": self.reason,
            "citation": self.citation,
            "removed_at": self.removed_at,
        }


class Conflict(PortalError):
    status = 409
    title = "Conflict"


class Unauthorized(PortalError):
    """No (valid) credential: sign in, or send a personal access token (``Authorization: Bearer``)."""

    status = 401
    title = "Unauthorized"


class Forbidden(PortalError):
    status = 403
    title = "Forbidden"


class QuotaExceeded(PortalError):
    """A per-user (or per-client) quota is used up: answered 429, naming the quota in ``field``."""

    status = 429
    title = "Too many requests"


class TooLarge(PortalError):
    """An upload would go beyond a size or count quota (per record or per user): 413, naming the quota setting."""

    status = 413
    title = "Payload too large"


class ChecksumMismatch(Invalid):
    """The bytes received do not have the checksum the client declared. tus answers these 460 (its checksum
    extension); elsewhere they are 400 like any bad input."""

    title = "Checksum mismatch"


class Unavailable(PortalError):
    status = 503
    title = "Service unavailable"
