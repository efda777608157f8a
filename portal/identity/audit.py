"""The audit log: append-only events of who did what, read back page by page by admins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db.engine import Database
from portal.identity.models import AuditEvent
from portal.identity.principal import Principal

#: The actions written to the log (a fixed vocabulary, so a listing can be filtered by it).
ACTIONS = (
    "signin",
    "signin.failed",
    "signout",
    "signup",
    "user.create",
    "user.update",
    "user.roles",
    "user.disable",
    "group.add",
    "group.remove",
    "token.create",
    "token.revoke",
    "record.publish",
    "record.access",
    "record.remove",
    "release.connect",
    "release.disconnect",
    "release.secret",
    "collection.create",
    "collection.curator",
    "review.submit",
    "review.accept",
    "review.decline",
    "review.cancel",
)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    ip: str | None


class AuditLog:
    def __init__(self, db: Database, *, now: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self.now = now or (lambda: datetime.now(UTC))

    def add(
        self,
        principal: Principal,
        action: str,
        target: str = "",
        detail: dict[str, Any] | None = None,
        *,
        ip: str | None = None,
        session: Session | None = None,
    ) -> None:
        """Append one event; inside ``session`` when given, so it commits (or not) with the change it records."""
        assert action in ACTIONS, action
        event = AuditEvent(
            at=self.now(),
            actor_id=principal.user_id,
            actor=principal.label[:64],
            action=action,
            target=target[:255],
            detail=detail or {},
            ip=ip,
        )
        if session is not None:
            session.add(event)
            return
        with self.db.transaction() as s:
            s.add(event)

    def entries(self, *, before: int | None = None, size: int = 50, action: str | None = None) -> list[AuditEntry]:
        """Newest first; ``before`` is the id to continue below (keyset pagination)."""
        with self.db.reader() as s:
            query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(size)
            if before is not None:
                query = query.where(AuditEvent.id < before)
            if action is not None:
                query = query.where(AuditEvent.action == action)
            return [
                AuditEntry(e.id, e.at, e.actor, e.action, e.target, dict(e.detail or {}), e.ip)
                for e in s.scalars(query)
            ]
